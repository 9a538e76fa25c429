// A user's latest window as model ids (see user_history.hpp).
#include "cli/user_history.hpp"

#include <algorithm>
#include <numeric>

#include "cli/args.hpp"
#include "limelight/error.hpp"

namespace limelight::cli {

std::vector<std::int32_t> user_history(const Interactions& data, const std::string& user, const LabelIndex& model_ids,
                                       int max_length, std::size_t& dropped) {
  std::int32_t uid = -1;
  if (!data.user_labels.empty()) {
    const auto it = std::find(data.user_labels.begin(), data.user_labels.end(), user);
    if (it != data.user_labels.end()) uid = static_cast<std::int32_t>(it - data.user_labels.begin());
  } else if (!user.empty() && user.find_first_not_of("0123456789") == std::string::npos && user.size() < 10) {
    const long v = std::stol(user);
    if (v < data.num_users) uid = static_cast<std::int32_t>(v);
  }
  LL_CHECK(uid >= 0, "--user: ", printable(user), " is not a user of the data (", data.num_users, " users",
           data.user_labels.empty() ? ", ids 0.." + std::to_string(data.num_users - 1) : std::string(), ")");
  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < data.size(); ++r)
    if (data.user_ids[r] == uid) rows.push_back(r);
  if (!data.timestamps.empty())
    std::stable_sort(rows.begin(), rows.end(),
                     [&](std::size_t a, std::size_t b) { return data.timestamps[a] < data.timestamps[b]; });
  const bool labelled = !data.item_labels.empty();
  std::vector<std::int32_t> known;
  dropped = 0;
  for (std::size_t r : rows) {
    const std::int32_t item = data.item_ids[r];
    const std::int32_t id =
        model_ids.find(labelled ? data.item_labels[static_cast<std::size_t>(item)] : std::to_string(item));
    if (id > 0) known.push_back(id);
    else ++dropped;
  }
  LL_CHECK(!known.empty(), "--user ", printable(user), ": none of the user's ", rows.size(),
           " items is an item of the model");
  const std::size_t keep = std::min(known.size(), static_cast<std::size_t>(max_length));
  std::vector<std::int32_t> window(static_cast<std::size_t>(max_length) - keep, 0);
  window.insert(window.end(), known.end() - static_cast<std::ptrdiff_t>(keep), known.end());
  return window;
}

}  // namespace limelight::cli
