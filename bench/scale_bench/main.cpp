// limelight-scale-bench: the CPU at catalogue scale, each figure beside its
// baseline measured in the same process (docs/benchmarks.md, "Catalogue
// scale"; "Reduced-precision item table"). Sections, chosen with
// --sections (default all):
//   adam     dense Adam and the gradient zeroing over a (V, D) table, 1 thread
//            against N, beside the same memory traffic with no arithmetic
//            (the floor); model initialisation (all tables and Adam moments)
//            at V items, 1 thread against N.
//   train    train_step on random sequences (B 256, length 50) at each --items
//            catalogue size, dense and --sparse, median step time (--modes
//            dense,sparse chooses which; a skipped one prints as "-"); then
//            --sparse at the largest against the smallest size, steps of the
//            two models alternated.
//   serve    one-sequence recommend (k 10, 199 items of history) over each
//            --serve-items size, against the unfused single-threaded path
//            (score every item into a buffer on one thread, then a heap pass
//            over it: the serving path before the fused one); and a batch of
//            64 sequences through recommend_batch against cblas_sgemm alone at
//            the same shape (64 x V x D) on N threads.
//   int8     the int8 item table (ServingPrecision::int8) against float32 on
//            the same model, alternated round by round: one-sequence
//            recommend (k 10, 199 items of history) and recommend_batch of 64
//            sequences of 50 (k 10, exclude seen) over each --serve-items
//            size; every answer checked identical (items and score bits).
// Every figure is the median of --repeats runs; ratios are of medians.
#include <cstdio>
#include <exception>
#include <string>

#include "bench_common.hpp"
#include "scale_bench/scale_bench.hpp"

namespace {

std::vector<std::int64_t> sizes_of(const std::string& s) {
  std::vector<std::int64_t> out;
  for (const std::string& part : limelight::bench::split_list(s)) out.push_back(std::stoll(part));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace limelight::bench;
  Options o;
  try {
    for (Arguments args(argc, argv, "limelight-scale-bench"); args.next();) {
      const std::string& a = args.flag();
      if (a == "--items") o.items = sizes_of(args.value());
      else if (a == "--serve-items") o.serve_items = sizes_of(args.value());
      else if (a == "--adam-items") o.adam_items = std::stoll(args.value());
      else if (a == "--threads") o.threads = std::stoi(args.value());
      else if (a == "--repeats") o.repeats = std::stoi(args.value());
      else if (a == "--steps") o.steps = std::stoi(args.value());
      else if (a == "--sections") o.sections = args.value();
      else if (a == "--modes") o.modes = args.value();
      else if (a == "--representations") o.representations = split_list(args.value());
      else {
        std::printf("usage: limelight-scale-bench [--sections adam,train,serve,int8] [--items LIST] [--serve-items LIST]\n"
                    "  [--adam-items N] [--threads N] [--repeats N] [--steps N] [--representations LIST]\n"
                    "  [--modes dense,sparse]\n");
        return a == "--help" ? 0 : 2;
      }
    }
    if (o.sections.find("adam") != std::string::npos) bench_adam(o);
    if (o.sections.find("train") != std::string::npos) {
      bench_train(o);
      bench_sparse_span(o);
    }
    if (o.sections.find("serve") != std::string::npos) bench_serve(o);
    if (o.sections.find("int8") != std::string::npos) bench_int8(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
