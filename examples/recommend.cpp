// A minimal consumer of the installed limelight library: loads a model file,
// reads sequences of item ids from standard input (one per line, oldest
// first, separated by commas or spaces; the model's item ids when it has
// them, else dense ids) and prints the k best next items of each as
// "id:score" pairs, best first.
//
//   g++ -std=c++20 recommend.cpp $(pkg-config --cflags --libs limelight) -o recommend
//   echo 3,17,42 | ./recommend model.safetensors 5
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <limelight/error.hpp>
#include <limelight/model_file.hpp>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: recommend MODEL [K] < sequences\n";
    return 2;
  }
  try {
    const limelight::LoadedModel loaded = limelight::load_model(argv[1]);
    const int k = argc == 3 ? std::atoi(argv[2]) : 10;
    const std::vector<std::string>& labels = loaded.item_labels;  // empty: dense ids
    std::unordered_map<std::string, std::int32_t> ids;
    for (std::size_t i = 1; i < labels.size(); ++i) ids[labels[i]] = static_cast<std::int32_t>(i);

    std::string line;
    while (std::getline(std::cin, line)) {
      for (char& c : line)
        if (c == ',') c = ' ';
      std::istringstream tokens(line);
      std::vector<std::int32_t> sequence;
      for (std::string token; tokens >> token;) {
        if (labels.empty()) {
          sequence.push_back(std::stoi(token));
        } else {
          auto it = ids.find(token);
          if (it == ids.end()) throw limelight::Error("unknown item id '" + token + "'");
          sequence.push_back(it->second);
        }
      }
      // recommend() checks the ids and k, throwing limelight::Error.
      const auto top = loaded.model.recommend(sequence, k);
      for (std::size_t i = 0; i < top.size(); ++i) {
        const std::string id = labels.empty() ? std::to_string(top[i].item) : labels[top[i].item];
        std::cout << (i ? " " : "") << id << ":" << top[i].score;
      }
      std::cout << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "recommend: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
