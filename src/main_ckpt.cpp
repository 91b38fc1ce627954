// main_ckpt.cpp — strata-ckpt: look at, check, convert and sample from checkpoints (SPEC sections 3
// and 8). Dispatches to the subcommands of src/ckpt_commands.h.
// Exit codes: 0 ok, 2 usage, 3 bad checkpoint or input, 1 anything else.
#include <iostream>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "src/ckpt_commands.h"
#include "src/program_main.h"
#include "src/subcommand.h"

using namespace strata;

namespace {

constexpr const char* main_usage =
    "usage: strata-ckpt <command> [options] [arguments]\n"
    "\n"
    "commands:\n"
    "  inspect  print a checkpoint's step, the layout and configuration it was saved with, its sizes\n"
    "  verify   read every dataset of a checkpoint and check its checksum and shape\n"
    "  export   write a checkpoint's model as Hugging Face GPT-2 (--format hf) or llm.c (--format llmc)\n"
    "  import   make a Strata checkpoint from a Hugging Face GPT-2 directory or an llm.c model file\n"
    "  sample   generate text from a checkpoint's model\n"
    "  logits   print a checkpoint's next-token logits for a token sequence\n"
    "\n"
    "A checkpoint is a step directory (DIR/step_00000300) or a checkpoint directory (DIR: its latest).\n"
    "Run 'strata-ckpt <command> --help' for the options of a command. Exit codes: 0 success,\n"
    "2 usage error, 3 bad checkpoint or input file, 1 other failures. See docs/checkpoints.md.\n";

}  // namespace

int main(int argc, char** argv) {
  ProgramMain program("strata-ckpt", std::string("strata-ckpt ") + (argc >= 2 ? argv[1] : ""));
  return program.run([&] {
    const SubcommandLine line(argc, argv);
    const std::string& command = line.command;
    const std::vector<std::string>& args = line.args;
    if (line.wants_help()) {
      std::cout << main_usage;
      return 0;
    }
    if (command == "inspect") return ckpt_inspect(args);
    if (command == "verify") return ckpt_verify(args);
    if (command == "export") return ckpt_export(args);
    if (command == "import") return ckpt_import(args);
    if (command == "sample") return ckpt_sample(args);
    if (command == "logits") return ckpt_logits(args);
    return reject_subcommand("strata-ckpt", command, main_usage);
  });
}
