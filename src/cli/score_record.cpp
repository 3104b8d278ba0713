#include "cli/score_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "util/error.h"
#include "util/sha256.h"
#include "util/version.h"

namespace safrl::cli {
namespace {

using nlohmann::json;

// Enough of a digest to tell two apart in a message.
std::string short_hash(const json& record, const char* section) {
  return record[section]["sha256"].get<std::string>().substr(0, 12);
}

std::string show(const json* value) {
  if (value == nullptr) return "absent";
  std::string text = value->dump();
  constexpr size_t kShown = 80;
  return text.size() > kShown ? text.substr(0, kShown) + "..." : text;
}

const json* child(const json* parent, const std::string& key) {
  if (parent == nullptr || !parent->is_object()) return nullptr;
  const auto found = parent->find(key);
  return found == parent->end() ? nullptr : &*found;
}

// "key.path was X, now Y" for each leaf where the two settings differ. A setting the record
// lacks (it was added after the record was written) that now holds its default, `fallback`,
// is no difference: that run computed with the default. `filled` counts such settings.
void differences(const json* was, const json* now, const json* fallback, const std::string& path,
                 std::vector<std::string>& out, int& filled) {
  if (was == nullptr && now != nullptr && fallback != nullptr && *fallback == *now) {
    ++filled;
    return;
  }
  if (was != nullptr && now != nullptr && was->is_object() && now->is_object()) {
    std::set<std::string> keys;
    for (const auto& item : was->items()) keys.insert(item.key());
    for (const auto& item : now->items()) keys.insert(item.key());
    for (const std::string& key : keys) {
      differences(child(was, key), child(now, key), child(fallback, key),
                  path.empty() ? key : path + "." + key, out, filled);
    }
    return;
  }
  if (was == nullptr || now == nullptr || *was != *now) {
    out.push_back(util::cat(path, " was ", show(was), ", now ", show(now)));
  }
}

bool is_string_at(const json& record, const char* section, const char* key) {
  return record.contains(section) && record[section].is_object() && record[section].contains(key) &&
         record[section][key].is_string();
}

void sync_or_throw(int fd, const std::string& path) {
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    throw util::Error(util::cat("cannot write ", path));
  }
  ::close(fd);
}

}  // namespace

std::string score_record_path(const std::string& output) {
  return output + ".meta.json";
}

json make_score_record(const std::string& input_path, const std::string& input_sha256,
                       const std::string& config_path, const json& settings) {
  return {{"written_by", util::cat("safrl score ", util::kVersion)},
          {"input", {{"path", input_path}, {"sha256", input_sha256}}},
          {"config",
           {{"path", config_path},
            {"sha256", util::sha256_hex(settings.dump())},
            {"settings", settings}}}};
}

std::string score_record_mismatch(const json& recorded, const json& current, const json& defaults) {
  std::vector<std::string> parts;
  const json &was_input = recorded["input"], &now_input = current["input"];
  if (was_input["sha256"] != now_input["sha256"]) {
    if (was_input["path"] == now_input["path"]) {
      parts.push_back(util::cat("the input ", was_input["path"].get<std::string>(),
                                " changed (sha256 was ", short_hash(recorded, "input"), ", now ",
                                short_hash(current, "input"), ")"));
    } else {
      parts.push_back(util::cat("the input was ", was_input["path"].get<std::string>(), " (sha256 ",
                                short_hash(recorded, "input"), "), now ",
                                now_input["path"].get<std::string>(), " (sha256 ",
                                short_hash(current, "input"), ")"));
    }
  }
  const json &was_config = recorded["config"], &now_config = current["config"];
  if (was_config["sha256"] != now_config["sha256"]) {
    if (was_config["path"] != now_config["path"]) {
      parts.push_back(util::cat("the config was ", was_config["path"].get<std::string>(), ", now ",
                                now_config["path"].get<std::string>()));
    }
    std::vector<std::string> settings;
    int filled = 0;
    differences(&was_config["settings"], &now_config["settings"], &defaults, "", settings, filled);
    // A record edited by hand can hash its settings differently from what it lists.
    if (settings.empty() && filled == 0) {
      settings.push_back(util::cat("the config's settings differ (sha256 was ",
                                   short_hash(recorded, "config"), ", now ",
                                   short_hash(current, "config"), ")"));
    }
    parts.insert(parts.end(), settings.begin(), settings.end());
  }
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : "; ") + part;
  return text;
}

json read_score_record(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return nullptr;
  json record;
  try {
    record = json::parse(in);
  } catch (const json::exception& e) {
    throw util::Error(util::cat(path, " is not JSON (", e.what(), ")"));
  }
  if (!record.is_object() || !is_string_at(record, "input", "path") ||
      !is_string_at(record, "input", "sha256") || !is_string_at(record, "config", "path") ||
      !is_string_at(record, "config", "sha256") || !record["config"].contains("settings")) {
    throw util::Error(util::cat(path,
                                " is not a safrl score record (it needs input.path, "
                                "input.sha256, config.path, config.sha256 and config.settings)"));
  }
  return record;
}

void write_score_record(const std::string& path, const json& record) {
  const std::string temporary = path + ".tmp";
  const std::string text = record.dump(2) + '\n';
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    if (fd >= 0) ::close(fd);
    throw util::Error(util::cat("cannot write ", temporary));
  }
  sync_or_throw(fd, temporary);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    throw util::Error(util::cat("cannot rename ", temporary, " to ", path));
  }
  // The rename itself is durable once the directory is synced.
  const std::string dir = std::filesystem::absolute(path).parent_path().string();
  sync_or_throw(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), dir);
}

}  // namespace safrl::cli
