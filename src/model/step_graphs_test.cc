// StepGraphs against LlamaModel::forward_paged: the same logits from a
// replayed graph, over batch sizes that pad, contexts that outgrow a graph's
// slot buffer, and forks sharing blocks; padding rows write no K/V; lone
// extends, short and over a run read in place, captured the second time
// their shape is seen; decode ids fed on the device. On the
// CPU (no graphs) forward() is forward_paged's; the graph cases need CUDA and
// the kernels, and are skipped (reported so) without them.
#include <boost/test/unit_test.hpp>

#include "model/step_graphs.h"
#include "model/fused_ops.h"
#include "model/model_testing.h"
#include "model/paged_attention.h"

namespace pcache {
namespace {

using testing::range;
using testing::some_ids;

struct GraphsPresent {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result ok =
        at::hasCUDA() && fused_ops_available(at::Device(at::kCUDA), at::kBFloat16) &&
        paged_attention_available(at::Device(at::kCUDA), at::kBFloat16, 16, 2);
    if (!ok) ok.message() << "no CUDA device or no build of the kernels";
    return ok;
  }
};

void append_ok(PagedSequence& s, const std::vector<int>& ids) {
  BOOST_REQUIRE(s.append(ids, range(s.length(), static_cast<int64_t>(ids.size()))).ok());
}

at::Tensor float_logits(StatusOr<at::Tensor> t) { return testing::ok(std::move(t)).to(at::kFloat); }

struct Setup {
  Setup(at::ScalarType dtype, at::Device device, int64_t blocks,
        WeightFormat weights = WeightFormat::kModelDtype)
      : model(testing::load_fixture_model("tiny-mistral", dtype, device, weights)) {
    auto p = BlockPool::create(model->config(), dtype, device, blocks);
    BOOST_REQUIRE(p.ok());
    pool = std::move(p).value();
  }
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<BlockPool> pool;
};

// Prefills sequences of the given lengths (a fork of the first among them).
std::vector<std::unique_ptr<PagedSequence>> prefilled(Setup& s, const std::vector<int64_t>& lengths) {
  std::vector<std::unique_ptr<PagedSequence>> seqs;
  std::vector<PagedInput> inputs;
  for (size_t i = 0; i < lengths.size(); ++i) {
    seqs.push_back(std::make_unique<PagedSequence>(*s.pool));
    append_ok(*seqs.back(), some_ids(lengths[i], static_cast<int64_t>(i) + 1));
    inputs.push_back({seqs.back().get(), lengths[i], false});
  }
  float_logits(s.model->forward_paged(inputs));
  seqs.push_back(std::make_unique<PagedSequence>(seqs[0]->share()));
  return seqs;
}

enum class Ids { kOnHost, kFedOnDevice };

// One decode step of every sequence, through the graphs and then through
// forward_paged (which writes the same K/V again): max |difference|. With
// kFedOnDevice the graphs read the ids from a device tensor (the sequences
// hold placeholders, set to the ids before the eager pass).
float step_difference(Setup& s, StepGraphs& graphs, std::vector<std::unique_ptr<PagedSequence>>& seqs,
                      int token, Ids ids_on = Ids::kOnHost) {
  const bool fed = ids_on == Ids::kFedOnDevice;
  std::vector<PagedInput> inputs;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < seqs.size(); ++i) {
    ids.push_back(token + static_cast<int64_t>(i));
    append_ok(*seqs[i], {fed ? -1 : static_cast<int>(ids.back())});
    inputs.push_back({seqs[i].get(), 1, false});
  }
  at::Tensor from_graph = float_logits(
      graphs.forward(inputs, fed ? at::tensor(ids, at::kLong).to(s.model->device()) : at::Tensor()));
  for (size_t i = 0; i < seqs.size(); ++i) seqs[i]->set_token(seqs[i]->length() - 1, static_cast<int>(ids[i]));
  at::Tensor eager = float_logits(s.model->forward_paged(inputs));
  BOOST_REQUIRE(from_graph.sizes() == eager.sizes());
  return (from_graph - eager).abs().max().item<float>();
}

// The last n entries of `seq` through the graphs, then through forward_paged
// (which writes the same K/V again): max |difference|.
float extend_difference(Setup& s, StepGraphs& graphs, PagedSequence& seq, int64_t n) {
  at::Tensor from_graph = float_logits(graphs.forward({{&seq, n, false}}));
  at::Tensor eager = float_logits(s.model->forward_paged({{&seq, n, false}}));
  BOOST_REQUIRE(from_graph.sizes() == eager.sizes());
  return (from_graph - eager).abs().max().item<float>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(step_graphs_test)

BOOST_AUTO_TEST_CASE(on_the_cpu_forward_is_forward_paged) {
  Setup s(at::kFloat, at::kCPU, 32);
  StepGraphs graphs(*s.model, *s.pool);
  BOOST_TEST(!graphs.enabled());
  auto seqs = prefilled(s, {9, 20});
  BOOST_TEST(step_difference(s, graphs, seqs, 100) == 0.f);
  BOOST_TEST(step_difference(s, graphs, seqs, 110, Ids::kFedOnDevice) == 0.f);
  append_ok(*seqs[0], some_ids(12, 5));
  BOOST_TEST(extend_difference(s, graphs, *seqs[0], 12) == 0.f);
  BOOST_TEST(graphs.captures() == 0);
}

BOOST_AUTO_TEST_CASE(lone_extends_replay_graphs, *boost::unit_test::precondition(GraphsPresent())) {
  Setup s(at::kBFloat16, at::Device(at::kCUDA), 1024);
  StepGraphs graphs(*s.model, *s.pool);
  // Padding to 32 rows changes the shapes of the matrix products (another
  // cuBLAS kernel may sum in another order): close, not equal.
  constexpr float kTolerance = 0.05f;
  // Short prompts (the paged kernels read the context): 20 new tokens of 20.
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST_INFO("short prompt " << i);
    PagedSequence seq(*s.pool);
    append_ok(seq, some_ids(20, 30 + i));
    BOOST_TEST(extend_difference(s, graphs, seq, 20) < kTolerance);
  }
  BOOST_TEST(graphs.captures() == 1);  // seen, captured, replayed
  BOOST_TEST(graphs.extend_replays() == 1);
  // A prefix of `length` entries computed, then three extends of n new tokens
  // over forks of it: the first runs eagerly, the second captures, the third
  // replays.
  auto extends_over = [&](int64_t length, int64_t seed, int64_t n, const char* what) {
    PagedSequence prefix(*s.pool);
    append_ok(prefix, some_ids(length, seed));
    BOOST_REQUIRE(s.model->forward_paged({{&prefix, length, false}}).ok());
    const auto captures = graphs.captures(), replays = graphs.extend_replays();
    for (int i = 0; i < 3; ++i) {
      BOOST_TEST_INFO(what << " " << i);
      PagedSequence question = prefix.share();
      append_ok(question, some_ids(n, 10 * seed + i));
      BOOST_TEST(extend_difference(s, graphs, question, n) < kTolerance);
    }
    BOOST_TEST(graphs.captures() == captures + 1);
    BOOST_TEST(graphs.extend_replays() == replays + 1);
  };
  // Questions over a 2000-entry prompt in consecutive blocks (a module):
  // read in place by flash attention, the question by the kernels.
  extends_over(2000, 3, 21, "question");
  // Over a run of StepGraphs::kCudnnMinRun entries or more: cuDNN in parts
  // where it runs (else flash), the run cut to a multiple of the parts.
  extends_over(4200, 4, 21, "question over a long module");
  // A few new tokens over a fork whose last block is partial (the bench's
  // floor: its prompt follows the schema's shared partial first block): the
  // block is copied first, then the tokens extend it. (One new token would be
  // a decode step, the decode graphs' case.)
  extends_over(40, 5, 3, "over a partial block");
  // Every logit row asked for: no graph.
  PagedSequence all(*s.pool);
  append_ok(all, some_ids(20, 50));
  for (int i = 0; i < 2; ++i) BOOST_REQUIRE(graphs.forward({{&all, 20, true}}).ok());
  BOOST_TEST(graphs.extend_replays() == 4);
}

BOOST_AUTO_TEST_CASE(replayed_graphs_equal_eager_steps,
                     *boost::unit_test::precondition(GraphsPresent())) {
  Setup s(at::kBFloat16, at::Device(at::kCUDA), 1024);
  StepGraphs graphs(*s.model, *s.pool);
  BOOST_REQUIRE(graphs.enabled());
  // 1 sequence (batch size 1), then 4 + a fork = 5 (padded to 6).
  auto one = prefilled(s, {33});
  one.pop_back();  // no fork: batch 1
  for (int step = 0; step < 3; ++step) {
    BOOST_TEST_INFO("batch 1, step " << step);
    BOOST_TEST(step_difference(s, graphs, one, 200 + step) == 0.f);
  }
  BOOST_TEST(graphs.captures() == 1);  // captured once, replayed after
  auto five = prefilled(s, {17, 48, 5, 130});
  for (int step = 0; step < 3; ++step) {
    BOOST_TEST_INFO("batch 5, step " << step);
    BOOST_TEST(step_difference(s, graphs, five, 300 + step) == 0.f);
  }
  BOOST_TEST(graphs.captures() == 2);
  // Ids fed on the device (overlapped steps) replay the same graphs.
  for (int step = 0; step < 2; ++step) {
    BOOST_TEST_INFO("fed ids, step " << step);
    BOOST_TEST(step_difference(s, graphs, one, 250 + step, Ids::kFedOnDevice) == 0.f);
    BOOST_TEST(step_difference(s, graphs, five, 350 + step, Ids::kFedOnDevice) == 0.f);
  }
  BOOST_TEST(graphs.captures() == 2);
}

BOOST_AUTO_TEST_CASE(int8_weights_replay_equal_eager_steps,
                     *boost::unit_test::precondition(GraphsPresent())) {
  // The int8 GEMV at batch 1 to 4, the dequantized weights past it;
  // symmetric and with zero points.
  for (WeightFormat weights : {WeightFormat::kInt8, WeightFormat::kInt8ZeroPoint}) {
    Setup s(at::kBFloat16, at::Device(at::kCUDA), 1024, weights);
    StepGraphs graphs(*s.model, *s.pool);
    for (const std::vector<int64_t>& lengths : {std::vector<int64_t>{33, 7}, {17, 48, 5, 130, 64}}) {
      auto seqs = prefilled(s, lengths);
      for (int step = 0; step < 2; ++step) {
        BOOST_TEST_INFO(weight_format_name(weights) << ", " << seqs.size() << " sequences, step " << step);
        BOOST_TEST(step_difference(s, graphs, seqs, 400 + step) == 0.f);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(padding_writes_no_kv, *boost::unit_test::precondition(GraphsPresent())) {
  Setup s(at::kBFloat16, at::Device(at::kCUDA), 64);
  StepGraphs graphs(*s.model, *s.pool);
  auto seqs = prefilled(s, {20, 40});  // 3 sequences, padded to 4
  std::vector<PagedInput> inputs;
  for (auto& seq : seqs) {
    append_ok(*seq, {7});  // the fork copies its shared partial block here
    inputs.push_back({seq.get(), 1, false});
  }
  std::vector<at::Tensor> before;
  for (int64_t l = 0; l < s.model->config().num_layers; ++l) before.push_back(s.pool->keys(l).clone());
  float_logits(graphs.forward(inputs));
  std::vector<int64_t> written;
  for (auto& seq : seqs) written.push_back(seq->slots().back());
  for (int64_t l = 0; l < s.model->config().num_layers; ++l) {
    // Bit patterns, not values: the pool's unwritten memory may hold NaNs
    // (whatever an earlier test left in the allocator), which equal nothing.
    at::Tensor changed = (s.pool->keys(l).view(at::kShort) != before[l].view(at::kShort))
                             .flatten(1).any(1).nonzero().flatten().cpu();
    std::vector<int64_t> rows(changed.data_ptr<int64_t>(), changed.data_ptr<int64_t>() + changed.numel());
    for (int64_t r : rows) BOOST_TEST((std::find(written.begin(), written.end(), r) != written.end()));
  }
}

BOOST_AUTO_TEST_CASE(a_shared_prefix_is_attended_once_with_the_same_results,
                     *boost::unit_test::precondition(GraphsPresent())) {
  Setup s(at::kBFloat16, at::Device(at::kCUDA), 1024);
  StepGraphs graphs(*s.model, *s.pool);
  // 32 forks of a 400-entry prompt (a module they share), each with its
  // own question, then decoding: the prompt is attended once per step.
  PagedSequence prompt(*s.pool);
  append_ok(prompt, some_ids(400, 3));
  BOOST_REQUIRE(s.model->forward_paged({{&prompt, 400, false}}).ok());
  std::vector<std::unique_ptr<PagedSequence>> seqs;
  std::vector<PagedInput> questions;
  for (int i = 0; i < 32; ++i) {
    seqs.push_back(std::make_unique<PagedSequence>(prompt.share()));
    append_ok(*seqs.back(), some_ids(9 + i % 5, 10 + i));
    questions.push_back({seqs.back().get(), 9 + i % 5, false});
  }
  float_logits(s.model->forward_paged(questions));
  for (int step = 0; step < 3; ++step) {
    BOOST_TEST_INFO("step " << step);
    // Flash attention over the prefix sums in another order than the kernels.
    BOOST_TEST(step_difference(s, graphs, seqs, 600 + step) < 0.05f);
  }
  BOOST_TEST(graphs.cascade_steps() == 3);
  BOOST_TEST(graphs.captures() == 1);
}

BOOST_AUTO_TEST_CASE(a_context_past_the_slot_buffer_captures_again,
                     *boost::unit_test::precondition(GraphsPresent())) {
  Setup s(at::kBFloat16, at::Device(at::kCUDA), 1024);
  StepGraphs graphs(*s.model, *s.pool);
  // One sequence, long enough that its splits stay what the GPU's size
  // makes them (the same graph shape) while it grows: 3001 entries in a
  // step take a graph with room for 8192 slots.
  auto seqs = prefilled(s, {3000});
  seqs.pop_back();  // no fork
  BOOST_TEST(step_difference(s, graphs, seqs, 400) == 0.f);
  BOOST_TEST(graphs.captures() == 1);
  append_ok(*seqs[0], some_ids(5300, 9));
  float_logits(s.model->forward_paged({{seqs[0].get(), 5300, false}}));
  BOOST_TEST(step_difference(s, graphs, seqs, 500) == 0.f);  // 8302 entries: past 8192
  BOOST_TEST(graphs.captures() == 2);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
