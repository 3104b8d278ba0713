// The engines' Prometheus texts as one exposition for the front's GET /metrics: with one engine
// its text as it is; with several, each sample labelled engine="i" and each metric family's
// samples kept together under one HELP and TYPE, as the text format requires. Pure.
#pragma once

#include <string>
#include <vector>

namespace safrl::serve {

// texts[i]: engine i's /metrics body, empty when it did not answer.
std::string merge_engine_metrics(const std::vector<std::string>& texts);

}  // namespace safrl::serve
