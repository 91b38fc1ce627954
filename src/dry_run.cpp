// dry_run.cpp — see dry_run.h.
#include "src/dry_run.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "kernels/error.h"
#include "parallel/zero_partition.h"
#include "src/param_layout.h"
#include "src/plan_cli.h"
#include "src/plan_report.h"
#include "src/program_main.h"

namespace strata {
namespace {

// What one (tensor rank, pipeline rank) holds: the same for every data rank.
struct Partition {
  std::vector<ModelChunk> chunks;
  int64_t params = 0, gather = 0;  // gather: ZeRO-3 gather buffers, sized as Zero3Params sizes them
  std::vector<ShardTensor> tensors;  // over all chunks, one flat buffer
};

Partition build_partition(const GptShape& shape, const PlanLayout& l, int tp, int pp) {
  Partition out;
  // The trainer's partition of this rank (src/param_layout.h): every chunk in one flat buffer.
  ModelPartition part = pipeline_partition(shape.layers, l.pipeline, pp, l.virtual_stages);
  part.tensor_rank = tp;
  part.tensor_size = l.tensor;
  for (int c = 0; c < part.chunks; ++c) {
    ModelChunk ch;
    ch.index = c * l.pipeline + pp;
    ch.first_layer = part.chunk_first_layer(c);
    ch.num_layers = part.num_layers;
    ch.has_embedding = part.has_embedding && c == 0;
    ch.has_head = part.has_head && c == part.chunks - 1;
    out.chunks.push_back(ch);
  }
  const ParamLayout layout(shape, part);
  for (const ParamTensor& t : layout.tensors()) {
    const std::size_t rows = static_cast<std::size_t>(t.shape[0]);
    out.tensors.push_back({t.offset, rows, t.count / rows});
  }
  // The trainer's ZeRO-3 pools (src/trainer.cpp): range 0 the embedding, then the blocks (two buffers of
  // the largest when there are several), the last the head; each pool sized for its largest range.
  const int last = layout.num_ranges() - 1;
  std::size_t block = 0;
  for (int i = 1; i < last; ++i) block = std::max(block, layout.range(i).count);
  out.gather = static_cast<int64_t>(layout.range(0).count + layout.range(last).count +
                                    (part.local_layers() > 1 ? 2 : 1) * block);
  out.params = static_cast<int64_t>(layout.total());
  return out;
}

}  // namespace

std::string format_group(const std::vector<int>& g) {
  // Built by append: GCC 12 warns falsely on "[" + std::to_string(...).
  std::string s = "[";
  const int step = g.size() > 1 ? g[1] - g[0] : 0;
  bool arithmetic = g.size() > 2;
  for (std::size_t i = 1; i < g.size(); ++i) arithmetic = arithmetic && g[i] - g[i - 1] == step;
  if (arithmetic) {
    s.append(std::to_string(g.front())).append("..").append(std::to_string(g.back()));
    if (step != 1) s.append(" step ").append(std::to_string(step));
  } else {
    for (std::size_t i = 0; i < g.size(); ++i) s.append(i ? "," : "").append(std::to_string(g[i]));
  }
  return s.append("]");
}

DryRun dry_run(const Config& cfg, int world, const Hardware& hw) {
  validate_layout(cfg, world);
  PlanLayout l = plan_layout_of(cfg, world);
  check_layout(cfg, l);
  GptShape shape = cfg.shape();
  DryRun run{l, shape, hw, Topology(world, 0, l.tensor, l.pipeline, l.order), {}, 0, 0, false};
  // One real partition per (tensor rank, pipeline rank), sharded over its data group.
  std::map<std::pair<int, int>, std::pair<Partition, ZeroPartition>> parts;
  run.ranks.reserve(static_cast<std::size_t>(world));
  for (int r = 0; r < world; ++r) {
    DryRunRank dr;
    dr.rank = r;
    dr.coord = run.topology.coord_of(r);
    const auto key = std::make_pair(dr.coord.tp, dr.coord.pp);
    auto it = parts.find(key);
    if (it == parts.end()) {
      Partition p = build_partition(shape, l, dr.coord.tp, dr.coord.pp);
      ZeroPartition z(p.tensors, l.data);
      it = parts.emplace(key, std::make_pair(std::move(p), std::move(z))).first;
    }
    const Partition& p = it->second.first;
    const ZeroPartition& z = it->second.second;
    dr.chunks = p.chunks;
    dr.counts.params = p.params;
    dr.counts.gather = p.gather;
    // Without ZeRO (or on one data rank) every rank keeps optimizer state for all of its parameters.
    const bool sharded = l.zero_stage >= 1 && l.data > 1;
    dr.counts.owned = sharded ? static_cast<int64_t>(z.owned(dr.coord.dp)) : p.params;
    dr.zero_pieces = sharded ? static_cast<int>(z.pieces(dr.coord.dp).size()) : 0;
    dr.memory = rank_memory(shape, l, hw, dr.coord.pp, dr.counts);
    if (dr.memory.total() > run.max_memory) {
      run.max_memory = dr.memory.total();
      run.max_rank = r;
    }
    run.ranks.push_back(std::move(dr));
  }
  run.fits = run.max_memory <= hw.memory_gib * 1024.0 * 1024.0 * 1024.0;
  return run;
}

std::string format_dry_run(const DryRun& run) {
  const PlanLayout& l = run.layout;
  std::ostringstream os;
  os << "dry run: " << run.topology.world_size() << " ranks = tensor " << l.tensor << " x pipeline " << l.pipeline
     << " x data " << l.data << " (order " << l.order << "), virtual stages " << l.virtual_stages << ", ZeRO "
     << l.zero_stage << ", sequence parallel " << (l.sequence_parallel ? "on" : "off") << ", recompute "
     << l.recompute << ", micro-batch " << l.micro_batch << " x " << l.micro_batches() << ", " << l.precision
     << "\nmodel: " << with_commas(gpt_parameter_count(run.shape)) << " parameters (vocabulary padded to "
     << run.shape.padded_vocab() << ")\nhardware: " << describe(run.hw) << "\n";
  os << "peak memory " << gib(run.max_memory) << " on rank " << run.max_rank << " of " << run.hw.memory_gib
     << " GiB: " << (run.fits ? "fits" : "DOES NOT FIT") << "\n\n";
  os << "rank (tp,dp,pp): layers | parameters | ZeRO shard | memory | groups tensor / data / pipeline / embedding\n";
  for (const DryRunRank& r : run.ranks) {
    std::string layers;
    for (const ModelChunk& ch : r.chunks) {
      if (!layers.empty()) layers += ",";
      layers.append(std::to_string(ch.first_layer)).append("-").append(std::to_string(ch.first_layer + ch.num_layers - 1));
      if (ch.has_embedding) layers += "+emb";
      if (ch.has_head) layers += "+head";
    }
    os << r.rank << " (" << r.coord.tp << "," << r.coord.dp << "," << r.coord.pp << "): " << layers << " | "
       << with_commas(r.counts.params) << " | " << with_commas(r.counts.owned) << " in " << r.zero_pieces
       << " pieces | " << gib(r.memory.total()) << " | "
       << format_group(run.topology.group_of(Axis::tensor, r.rank)) << " / "
       << format_group(run.topology.group_of(Axis::data, r.rank)) << " / "
       << format_group(run.topology.group_of(Axis::pipeline, r.rank)) << " / "
       << format_group(run.topology.embedding_group_of(r.rank)) << "\n";
  }
  return os.str();
}

bool wants_dry_run(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--dry-run") == 0) return true;
  return false;
}

int dry_run_main(int argc, char** argv) {
  ProgramMain program("strata-train: --dry-run", "strata-train --dry-run");
  return program.run([&] {
    const PlanCli cli = parse_plan_cli(argc, argv, {"dry-run", "help"});
    if (cli.has("help")) {
      std::printf("usage: strata-train --dry-run CONFIG.ini --world-size N [--hardware NAME] [--section.key=value ...]\n"
                  "Builds the partition of every rank (layers, parameters, ZeRO shard, memory, groups) without MPI\n"
                  "and without allocating the model; exit code 2 when the layout is invalid or does not fit.\n"
                  "  --world-size N   ranks (GPUs)\n  --hardware NAME  a100-40gb, a100-80gb, h100-sxm (default), h200, cpu\n%s",
                  hardware_options_help());
      return 0;
    }
    STRATA_CHECK(!cli.config.empty(), config, "--dry-run: no configuration file given (see --help)");
    const long long world = cli.count("world-size", 0);
    STRATA_CHECK(world >= 1 && world <= (1LL << 24), config, "--dry-run needs --world-size N (1 <= N <= 2^24)");
    const Config cfg = load_config(cli.config, cli.overrides);
    const Hardware hw = hardware_from_cli(cli, "h100-sxm", cfg.train.precision, {"world-size"});
    const DryRun run = dry_run(cfg, static_cast<int>(world), hw);
    std::fputs(format_dry_run(run).c_str(), stdout);
    STRATA_CHECK(run.fits, config, "the layout does not fit: rank ", run.max_rank, " needs ", gib(run.max_memory),
                 " of ", run.hw.memory_gib, " GiB (strata-plan --search lists layouts that fit)");
    return 0;
  });
}

}  // namespace strata
