#include "server/scheduler_collector.h"

#include <string>

#include "engine/executor/step_plan.h"

namespace infusion::server {

using engine::SpanKind;
using engine::SpanKindName;
using scheduler::SchedulerStats;

namespace {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

prometheus::MetricFamily Gauge(std::string name, std::string help, double value) {
  prometheus::MetricFamily family =
      Family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
  family.metric.emplace_back().gauge.value = value;
  return family;
}

prometheus::MetricFamily Counter(std::string name, std::string help, double value) {
  prometheus::MetricFamily family =
      Family(std::move(name), std::move(help), prometheus::MetricType::Counter);
  family.metric.emplace_back().counter.value = value;
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> SchedulerCollector::Collect() const {
  const SchedulerStats s = engine_->Stats();
  std::vector<prometheus::MetricFamily> families = {
      Gauge("infusion_requests_running", "Requests admitted by the engine and not finished",
            s.running),
      Gauge("infusion_requests_waiting", "Requests queued for admission", s.waiting),
      Gauge("infusion_kv_cache_usage_ratio", "Fraction of KV-cache blocks held by requests",
            s.kv_usage),
      Counter("infusion_prefix_cache_queries_total", "KV blocks looked up in the prefix cache",
              s.prefix_cache_queried_blocks),
      Counter("infusion_prefix_cache_hits_total", "KV blocks found in the prefix cache",
              s.prefix_cache_hit_blocks),
      Counter("infusion_preemptions_total", "Requests preempted to free KV blocks", s.preemptions),
      Counter("infusion_prompt_tokens_total", "Prompt positions admitted, image patches included",
              s.prompt_tokens),
      Counter("infusion_generation_tokens_total", "Text tokens sampled", s.generated_tokens),
      Counter("infusion_denoise_steps_total", "Denoising steps run, over all images",
              s.denoise_steps),
      Counter("infusion_engine_steps_total", "Engine steps (batched forward passes) run", s.steps),
  };
  prometheus::MetricFamily span_tokens =
      Family("infusion_step_tokens_total", "Positions computed by engine steps, by span kind",
             prometheus::MetricType::Counter);
  for (SpanKind kind :
       {SpanKind::kPrefill, SpanKind::kDecode, SpanKind::kDenoise, SpanKind::kCommit}) {
    prometheus::ClientMetric& metric = span_tokens.metric.emplace_back();
    metric.label.push_back({"span", SpanKindName(kind)});
    metric.counter.value = static_cast<double>(s.span_tokens[static_cast<int>(kind)]);
  }
  families.push_back(std::move(span_tokens));
  return families;
}

}  // namespace infusion::server
