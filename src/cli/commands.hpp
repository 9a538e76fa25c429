// The subcommands of the `limelight` tool. Each takes the whole argv with
// argv[first] the first argument after the subcommand's name, writes its
// results to standard output, and throws limelight::Error on bad input; main()
// turns errors into one `limelight: error:` line and a non-zero exit status.
#pragma once

#include <string>

namespace limelight::cli {

int run_fit(int argc, char** argv, int first);
int run_evaluate(int argc, char** argv, int first);
int run_recommend(int argc, char** argv, int first);
int run_recommend_stream(int argc, char** argv, int first);  // recommend --stream
int run_predict(int argc, char** argv, int first);
int run_info(int argc, char** argv, int first);

// The tool's version (the Meson project version).
std::string version();

}  // namespace limelight::cli
