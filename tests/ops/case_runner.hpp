// Runs one case of op_cases.hpp through a recording tape on a device:
// inputs copied there with Tensor::to, forward, a backward of the case's
// fixed random weighting of the output, and everything brought back to the
// host. On a host tape every arena allocation is followed by guard memory,
// checked after the forward and after the backward.
#pragma once

#include <doctest/doctest.h>

#include "op_cases.hpp"

namespace op_cases {

struct TapeRun {
  limelight::Shape shape;
  std::vector<float> output;
  std::vector<std::vector<float>> gradients;  // one per input, its shape flattened
};

inline TapeRun run_on_tape(const Case& c, limelight::Device device) {
  using namespace limelight;
  Tape tape(true, device);
  const bool guarded = device == Device::cpu;  // guard memory exists for host arenas only
  if (guarded) tape.arena().set_guard_bytes(64);
  std::vector<Var> vars;
  // Leaves that are not parameters: their gradients come from the tape's
  // arena, so the guards cover every gradient buffer the backward writes.
  for (const Tensor& x : c.inputs) vars.push_back(tape.output(x.to(device), true));
  std::vector<Tensor> constants;
  for (const Tensor& k : c.constants) constants.push_back(k.to(device));
  const Var out = c.build(tape, vars, constants);
  if (guarded) tape.arena().check_guards();

  TapeRun run;
  run.shape = tape.value(out).shape();
  run.output = tape.value(out).to_vector();
  const std::vector<float> weights = output_weights(c.name, tape.value(out).numel());
  const Var w = tape.constant(Tensor::from_vector(weights, run.shape).to(device));
  tape.backward(ops::sum(tape, ops::mul(tape, out, w)));
  for (Var v : vars) run.gradients.push_back(tape.grad(v).to_vector());
  if (guarded) tape.arena().check_guards();

  for (float y : run.output) REQUIRE_MESSAGE(std::isfinite(y), c.name, ": an output is not finite");
  for (std::size_t k = 0; k < run.gradients.size(); ++k)
    for (float g : run.gradients[k]) REQUIRE_MESSAGE(std::isfinite(g), c.name, ": a gradient of input ", k, " is not finite");
  return run;
}

}  // namespace op_cases
