// Streaming sessions (include/limelight/session.hpp) against the model's
// predict: for every representation (CNN with dilations, several layers, with
// and without residuals), a history pushed one event at a time gives the
// scores of predict on the whole sequence at lengths 1, 10, 200 and 5000, and
// a bounded session the scores of predict on its last N events; recommend
// with exclude_seen matches the model's; sessions survive serialisation
// bit for bit, and bad blobs are refused; 8 threads serving many sessions
// give the bits of one thread.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/random.hpp"
#include "limelight/session.hpp"

using namespace limelight;

namespace {

constexpr std::int32_t kItems = 300;

struct Case {
  std::string name;
  ModelConfig config;
};

ModelConfig base(const std::string& representation) {
  ModelConfig c;
  c.representation = parse_representation(representation);
  c.embedding_dim = 16;
  c.num_mixtures = 3;
  return c;
}

ModelConfig cnn(std::vector<int> kernel, std::vector<int> dilation, int layers, const char* act, bool residual) {
  ModelConfig c = base("cnn");
  c.cnn.kernel_width = std::move(kernel);
  c.cnn.dilation = std::move(dilation);
  c.cnn.num_layers = layers;
  c.cnn.nonlinearity = act;
  c.cnn.residual = residual;
  return c;
}

std::vector<Case> cases() {
  return {
      {"pooling", base("pooling")},
      {"lstm", base("lstm")},
      {"mixture", base("mixture")},
      {"cnn k3 l1 tanh res", cnn({3}, {1}, 1, "tanh", true)},
      {"cnn k3x5 d1x2 l2 relu res", cnn({3, 5}, {1, 2}, 2, "relu", true)},
      {"cnn k2 d1 l2 tanh nores", cnn({2}, {1}, 2, "tanh", false)},
      {"cnn k3 d1x2x4 l3 relu res", cnn({3}, {1, 2, 4}, 3, "relu", true)},
  };
}

// Parameters far from the initial ones (which are close to zero and leave
// the nonlinearities linear): every value uniform in [-0.6, 0.6], item
// biases included; the padding row stays zero, as training keeps it.
ImplicitSequenceModel make_model(const ModelConfig& config, std::uint64_t seed = 11) {
  ImplicitSequenceModel m(config);
  m.initialize(kItems);
  Rng rng(seed);
  for (Parameter* p : m.parameters()) {
    float* v = p->value.f32();
    for (std::int64_t i = 0; i < p->value.numel(); ++i) v[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * 0.6);
    if (p->name == "item_embeddings.weight")
      std::fill(v, v + config.embedding_dim, 0.0f);
    if (p->name == "item_biases.weight") v[0] = 0.0f;
  }
  return m;
}

// Events with repeats, and some padding ids, as histories have them.
std::vector<std::int32_t> events(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int32_t> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = i % 97 == 5 ? 0 : static_cast<std::int32_t>(1 + rng.uniform_int(kItems - 1));
  return out;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(std::isfinite(a[i]));
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return worst;
}

double scale(const std::vector<float>& a) {
  double s = 1.0;
  for (float x : a) s = std::max(s, std::fabs(static_cast<double>(x)));
  return s;
}

// Relative to the largest score: float32 rounding of sums taken in another
// order (and fast_exp for the mixture), a few ulp (2^-23 = 1.2e-7); the
// largest seen is 3e-7, after up to 5000 recurrent steps.
constexpr double kTolerance = 2e-6;

void check_scores(const Session& s, const ImplicitSequenceModel& m, const std::vector<std::int32_t>& sequence) {
  const std::vector<float> expected = m.predict(sequence);
  const std::vector<float> got = s.scores();
  const double diff = max_diff(got, expected);
  CHECK_MESSAGE(diff <= kTolerance * scale(expected), "max |session - predict| = ", diff, " after ", sequence.size(),
                " events (score scale ", scale(expected), ")");
  // The state itself is the last row of the model's user_representation.
  Tensor batch = Tensor::empty({1, static_cast<std::int64_t>(sequence.size())}, DType::i32);
  std::copy(sequence.begin(), sequence.end(), batch.i32());
  const Tensor last = m.user_representation(batch).second;
  const std::vector<float> want(last.f32(), last.f32() + last.numel());
  const std::vector<float> state(s.state().begin(), s.state().end());
  CHECK(max_diff(state, want) <= kTolerance * scale(want));
}

// The model's recommend and the session's agree, up to the order of scores
// closer than float32 rounding.
void check_recommend(const Session& s, const ImplicitSequenceModel& m, const std::vector<std::int32_t>& sequence,
                     bool exclude_seen) {
  const std::vector<Recommendation> want = m.recommend(sequence, 10, exclude_seen);
  const std::vector<Recommendation> got = s.recommend(10, exclude_seen);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].item != 0);
    if (exclude_seen) CHECK(std::find(sequence.begin(), sequence.end(), got[i].item) == sequence.end());
    if (got[i].item != want[i].item)
      CHECK_MESSAGE(std::fabs(got[i].score - want[i].score) <= kTolerance * std::max(1.0f, std::fabs(want[i].score)),
                    "rank ", i, ": session item ", got[i].item, " (", got[i].score, "), model item ", want[i].item, " (",
                    want[i].score, ")");
  }
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("pushing one event at a time gives predict's scores at lengths 1, 10, 200 and 5000") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    const ImplicitSequenceModel m = make_model(c.config);
    const SessionModel serving(m);
    const std::vector<std::int32_t> history = events(5000, 3);
    Session s = serving.start();
    std::size_t pushed = 0;
    for (std::size_t length : {1, 10, 200, 5000}) {
      for (; pushed < length; ++pushed) s.push(history[pushed]);
      const std::vector<std::int32_t> prefix(history.begin(), history.begin() + static_cast<std::ptrdiff_t>(length));
      CHECK(s.events() == static_cast<std::int64_t>(length));
      check_scores(s, m, prefix);
      check_recommend(s, m, prefix, false);
      check_recommend(s, m, prefix, true);
    }
    // Pooling's state is predict's arithmetic in predict's order: the same bits.
    if (c.config.representation == Representation::pooling) {
      Tensor batch = Tensor::empty({1, 5000}, DType::i32);
      std::copy(history.begin(), history.end(), batch.i32());
      const Tensor last = m.user_representation(batch).second;
      CHECK(std::memcmp(s.state().data(), last.f32(), sizeof(float) * s.state().size()) == 0);
    }
  }
}

TEST_CASE("a session started from a history equals one that pushed it; reset starts over") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    const ImplicitSequenceModel m = make_model(c.config);
    const SessionModel serving(m);
    const std::vector<std::int32_t> history = events(300, 4);
    Session pushed = serving.start();
    for (std::int32_t item : history) pushed.push(item);
    const Session started = serving.start(history);
    CHECK(started.events() == 300);
    CHECK(same_bits(started.scores(), pushed.scores()));
    pushed.reset();
    CHECK(pushed.events() == 0);
    CHECK_FALSE(pushed.excludes(history[0]));
    pushed.push(history[0]);
    check_scores(pushed, m, {history[0]});
  }
}

TEST_CASE("before any event a session holds the reference's state 0") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    const ImplicitSequenceModel m = make_model(c.config);
    const SessionModel serving(m);
    const Session s = serving.start();
    // user_representation's first row is state 0, whatever the sequence.
    Tensor batch = Tensor::empty({1, 3}, DType::i32);
    batch.i32()[0] = 5, batch.i32()[1] = 6, batch.i32()[2] = 7;
    const Tensor all = m.user_representation(batch).first;
    const std::int64_t W = all.dim(2);
    const std::vector<float> state0(all.f32(), all.f32() + W);
    const std::vector<float> got(s.state().begin(), s.state().end());
    CHECK(max_diff(got, state0) <= kTolerance * scale(state0));
    CHECK(s.recommend(5).size() == 5);
  }
}

TEST_CASE("a bounded session equals predict on its last N events") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    const ImplicitSequenceModel m = make_model(c.config);
    const SessionModel serving(m);
    const std::vector<std::int32_t> history = events(700, 5);
    // N = 1 and 4 are shorter than every CNN's receptive field here but the
    // first; 9 and 64 are longer than all of them.
    for (std::int64_t N : {1, 4, 9, 64}) {
      CAPTURE(N);
      Session s = serving.start(SessionOptions{N});
      for (std::size_t i = 0; i < history.size(); ++i) {
        s.push(history[i]);
        const std::size_t length = i + 1;
        if (length != 1 && length != 3 && length != static_cast<std::size_t>(N) && length != 100 && length != 700)
          continue;
        const std::size_t from = length > static_cast<std::size_t>(N) ? length - static_cast<std::size_t>(N) : 0;
        const std::vector<std::int32_t> window(history.begin() + static_cast<std::ptrdiff_t>(from),
                                               history.begin() + static_cast<std::ptrdiff_t>(length));
        CHECK(s.window() == window);
        CHECK(s.window_events() == static_cast<std::int64_t>(window.size()));
        check_scores(s, m, window);
        // Exclusion means the window's items: the model's recommend on the window.
        check_recommend(s, m, window, true);
        for (std::int32_t item : history)
          CHECK(s.excludes(item) == (std::find(window.begin(), window.end(), item) != window.end()));
      }
      // Starting from a long history skips to the window.
      const Session started = serving.start(history, SessionOptions{N});
      CHECK(started.events() == 700);
      CHECK(started.window() == s.window());
      CHECK(max_diff(started.scores(), s.scores()) <= kTolerance * scale(s.scores()));
    }
  }
}

TEST_CASE("a serialised session restores bit for bit and goes on identically") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    const ImplicitSequenceModel m = make_model(c.config);
    const SessionModel serving(m);
    const std::vector<std::int32_t> history = events(400, 6);
    for (std::int64_t N : {0, 5, 50}) {
      CAPTURE(N);
      Session s = serving.start(SessionOptions{N});
      const std::vector<std::uint8_t> empty_blob = s.serialize();
      CHECK(same_bits(serving.restore(empty_blob).scores(), s.scores()));
      for (std::size_t i = 0; i < 200; ++i) s.push(history[i]);
      const std::vector<std::uint8_t> blob = s.serialize();
      Session r = serving.restore(blob);
      CHECK(r.events() == s.events());
      CHECK(r.max_events() == N);
      CHECK(same_bits(r.scores(), s.scores()));
      CHECK(r.serialize() == blob);
      for (std::size_t i = 200; i < 400; ++i) {
        s.push(history[i]);
        r.push(history[i]);
      }
      CHECK(same_bits(r.scores(), s.scores()));
      const std::vector<Recommendation> a = r.recommend(20, true), b = s.recommend(20, true);
      REQUIRE(a.size() == b.size());
      for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].item == b[i].item);
      for (std::int32_t v = 0; v < kItems; ++v) CHECK(r.excludes(v) == s.excludes(v));
    }
  }
}

TEST_CASE("restore refuses another model's, another version's, truncated and corrupted bytes") {
  const ImplicitSequenceModel m = make_model(base("lstm"));
  const ImplicitSequenceModel other = make_model(base("lstm"), 12);  // same shapes, other weights
  const ImplicitSequenceModel pooling = make_model(base("pooling"));
  const SessionModel serving(m), other_serving(other), pooling_serving(pooling);
  CHECK(serving.fingerprint() != other_serving.fingerprint());
  Session s = serving.start(events(30, 7));
  const std::vector<std::uint8_t> blob = s.serialize();

  CHECK(error_of([&] { other_serving.restore(blob); }).find("another model") != std::string::npos);
  CHECK(error_of([&] { pooling_serving.restore(blob); }).find("another model") != std::string::npos);
  CHECK(error_of([&] { serving.restore(std::span(blob).first(blob.size() - 1)); }).find("truncated") !=
        std::string::npos);
  CHECK(error_of([&] { serving.restore(std::span(blob).first(20)); }).find("truncated") != std::string::npos);
  CHECK(error_of([&] { serving.restore({}); }).find("truncated") != std::string::npos);
  std::vector<std::uint8_t> longer = blob;
  longer.push_back(0);
  CHECK(error_of([&] { serving.restore(longer); }).find("do not match") != std::string::npos);
  std::vector<std::uint8_t> magic = blob;
  magic[0] = 'X';
  CHECK(error_of([&] { serving.restore(magic); }).find("not a limelight session") != std::string::npos);
  std::vector<std::uint8_t> version = blob;
  version[8] = 2;
  CHECK(error_of([&] { serving.restore(version); }).find("version 2") != std::string::npos);
  // Any flipped bit past the header's fixed fields is caught by the checksum
  // (or, in the sizes, by the size check).
  for (std::size_t at = 12; at < blob.size(); at += 7) {
    std::vector<std::uint8_t> bad = blob;
    bad[at] ^= 0x10;
    const std::string e = error_of([&] { serving.restore(bad); });
    CAPTURE(at);
    CHECK((e.find("corrupted") != std::string::npos || e.find("do not match") != std::string::npos));
  }
  CHECK_NOTHROW(serving.restore(blob));
}

TEST_CASE("sessions check their input") {
  const ImplicitSequenceModel m = make_model(base("cnn"));
  const SessionModel serving(m);
  Session s = serving.start();
  CHECK(error_of([&] { s.push(kItems); }).find("item id 300 is outside the model's catalogue [0, 300)") !=
        std::string::npos);
  CHECK(error_of([&] { s.push(-1); }).find("outside") != std::string::npos);
  CHECK(s.events() == 0);
  CHECK(error_of([&] { serving.start(std::vector<std::int32_t>{1, 2, 999}); }).find("999") != std::string::npos);
  CHECK(error_of([&] { serving.start(SessionOptions{-1}); }).find("max_events") != std::string::npos);
  CHECK(error_of([&] { s.recommend(0); }).find("k must be >= 1") != std::string::npos);
  CHECK(error_of([&] { s.window(); }).find("unbounded") != std::string::npos);
  std::vector<float> small(10);
  CHECK(error_of([&] { s.scores_into(small); }).find("room for 10") != std::string::npos);
  Session empty;
  CHECK_FALSE(empty.valid());
  CHECK(error_of([&] { empty.push(1); }).find("not started from a SessionModel") != std::string::npos);
  // Training after the SessionModel was built makes its copies stale.
  ImplicitSequenceModel trained(base("pooling"));
  trained.initialize(50);
  const SessionModel stale(trained);
  Tensor seq = Tensor::empty({2, 4}, DType::i32), neg = Tensor::empty({2, 4}, DType::i32);
  for (int i = 0; i < 8; ++i) seq.i32()[i] = 1 + i, neg.i32()[i] = 20 + i;
  trained.train_step(seq, neg);
  CHECK(error_of([&] { stale.start(); }).find("trained since") != std::string::npos);
}

TEST_CASE("8 threads serving many sessions give the bits of one thread") {
  for (const char* rep : {"pooling", "cnn", "lstm", "mixture"}) {
    CAPTURE(rep);
    ModelConfig config = base(rep);
    config.cnn = cnn({3}, {1, 2}, 2, "relu", true).cnn;
    const ImplicitSequenceModel m = make_model(config);
    const SessionModel serving(m);
    constexpr int kSessions = 96, kEvents = 40;
    // Session i: bounded to 6 events when i % 3 == 0, else unbounded.
    auto run = [&](int session) {
      Session s = serving.start(events(5, 100 + session), SessionOptions{session % 3 == 0 ? 6 : 0});
      std::vector<float> trace;
      for (std::int32_t item : events(kEvents, 200 + session)) {
        s.push(item);
        for (const Recommendation& r : s.recommend(5, session % 2 == 0)) {
          trace.push_back(static_cast<float>(r.item));
          trace.push_back(r.score);
        }
      }
      const std::vector<float> scores = s.scores();
      trace.insert(trace.end(), scores.begin(), scores.end());
      return trace;
    };
    std::vector<std::vector<float>> single(kSessions), threaded(kSessions);
    for (int i = 0; i < kSessions; ++i) single[static_cast<std::size_t>(i)] = run(i);
    std::atomic<int> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 8; ++t)
      pool.emplace_back([&] {
        for (int i = next++; i < kSessions; i = next++) threaded[static_cast<std::size_t>(i)] = run(i);
      });
    for (std::thread& t : pool) t.join();
    int differing = 0;
    for (int i = 0; i < kSessions; ++i)
      differing += !same_bits(single[static_cast<std::size_t>(i)], threaded[static_cast<std::size_t>(i)]);
    CHECK(differing == 0);
  }
}
