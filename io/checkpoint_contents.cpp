// checkpoint_contents.cpp — whole-checkpoint read and write from one process (checkpoint_file.h), for
// the conversion tool and tests; built on the same pieces as the parallel save and load.
#include <limits>

#include "io/checkpoint_file.h"
#include "io/checkpoint_write.h"
#include "kernels/error.h"

namespace strata {

namespace {

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

CheckpointRect whole(const std::vector<int64_t>& shape) {
  const int64_t cols = checkpoint_cols(shape);
  return {0, element_count(shape) / cols, 0, cols};
}

}  // namespace

CheckpointContents read_checkpoint(const std::string& step_dir) {
  const CheckpointReader reader(resolve_checkpoint(step_dir));
  CheckpointContents c;
  static_cast<CheckpointMeta&>(c) = reader.meta();
  std::vector<CheckpointTensor>* lists[3] = {&c.params, &c.exp_avg, &c.exp_avg_sq};
  const std::vector<std::string> names = reader.names(kCheckpointGroups[0]);
  for (int g = 0; g < 3; ++g) {
    const std::string group = kCheckpointGroups[g];
    const std::size_t n = reader.names(group).size();
    STRATA_CHECK(n == names.size(), data, reader.file(), ": /", group, " holds ", n, " datasets, /params ",
                 names.size());
    for (const std::string& p : names) {
      const std::string name = p.substr(p.find('/') + 1), path = group + "/" + name;
      CheckpointTensor t{name, reader.shape(path), {}};
      STRATA_CHECK(g == 0 || t.shape == c.params[lists[g]->size()].shape, data, reader.file(), ": dataset ", path,
                   " does not have the shape of params/", name);
      t.data.resize(static_cast<std::size_t>(element_count(t.shape)));
      const CheckpointRect r = whole(t.shape);
      reader.read(path, r, t.data.data());
      const uint64_t stored = reader.stored_checksum(path), found = checkpoint_rect_checksum(t.data.data(), r, r.cols);
      STRATA_CHECK(stored == found, data, reader.file(), ": dataset ", path, ": checksum mismatch (stored ", stored,
                   ", computed ", found, "): the checkpoint is corrupt");
      lists[g]->push_back(std::move(t));
    }
  }
  return c;
}

void write_checkpoint(const std::string& checkpoint_dir, const CheckpointContents& c) {
  const std::vector<CheckpointTensor>* lists[3] = {&c.params, &c.exp_avg, &c.exp_avg_sq};
  std::vector<CheckpointDatasetSpec> specs;
  std::vector<const CheckpointTensor*> tensors;
  for (int g = 0; g < 3; ++g) {
    STRATA_CHECK(lists[g]->size() == c.params.size(), internal, "checkpoint ", kCheckpointGroups[g], " has ",
                 lists[g]->size(), " tensors, params ", c.params.size());
    for (std::size_t i = 0; i < lists[g]->size(); ++i) {
      const CheckpointTensor& t = (*lists[g])[i];
      STRATA_CHECK(t.name == c.params[i].name && t.shape == c.params[i].shape, internal, "checkpoint ",
                   kCheckpointGroups[g], " tensor ", i, " (", t.name, ") does not match params tensor ", c.params[i].name);
      STRATA_CHECK(!t.name.empty() && t.name.find('/') == std::string::npos, internal, "bad tensor name '", t.name, "'");
      STRATA_CHECK(static_cast<int64_t>(t.data.size()) == element_count(t.shape), internal, "checkpoint tensor ",
                   t.name, " holds ", t.data.size(), " floats, its shape ", element_count(t.shape));
      specs.push_back({std::string(kCheckpointGroups[g]) + "/" + t.name, t.shape});
      tensors.push_back(&t);
    }
  }
  const std::string file = prepare_checkpoint_temp_dir(checkpoint_dir, c.step) + "/" + kCheckpointStateFile;
  create_checkpoint_file(file, c, specs);
  std::vector<CheckpointWrite> writes;
  std::vector<uint64_t> sums;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const CheckpointRect r = whole(specs[i].shape);
    writes.push_back({static_cast<int>(i), r.cols, r, tensors[i]->data.data()});
    sums.push_back(checkpoint_rect_checksum(tensors[i]->data.data(), r, r.cols));
  }
  write_checkpoint_data(MPI_COMM_NULL, file, specs, writes);
  set_checkpoint_checksums(file, specs, sums);
  commit_checkpoint_dir(checkpoint_dir, c.step, std::numeric_limits<int>::max());
  remove_checkpoint_trash(checkpoint_dir);
}

}  // namespace strata
