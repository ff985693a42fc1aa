// Options a plugin declares once, at its registration, and the checked values
// the framework hands its build function.
//
// A declaration says everything there is to know about an option: its name,
// type, default, allowed range or choices, one line of help and, for an
// optimizer, the key PyTorch's `param_groups` keeps it under. From that one
// place the framework checks what the user gave (types, ranges, unknown
// keys), fills in defaults, lists the options with their effective values
// under --helpshort, records them in every checkpoint, compares them on
// resume and writes them into PyTorch files. A plugin's build function only
// reads values that are already checked:
//
//   const DeclaredOptions kAdagradOptions = {
//       DoubleOption("lr", 0.01, "Learning rate.").Above(0).PyTorchKey("lr"),
//       DoubleOption("lr_decay", 0.0, "Learning-rate decay.").AtLeast(0).PyTorchKey("lr_decay"),
//   };
//   ... BuildAdagrad(const OptionValues& options, ...) {
//     options.Double("lr_decay") ...
//
// Errors name the option by its key and say what is wrong; where the key was
// set (a flag, a JSON key of --optimizer_options) is for the caller to say,
// through the `where` function ResolveOptions takes, as only the top layer
// knows it.
#ifndef FRAMEWORK_CORE_DECLARED_OPTIONS_H_
#define FRAMEWORK_CORE_DECLARED_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace framework {

enum class OptionType { kBool, kInt, kDouble, kChoice, kIntList, kDoubleList };

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::kDouble;
  nlohmann::json default_value;
  std::string help;
  // Numbers, and each element of a list.
  double min = -std::numeric_limits<double>::infinity();
  bool min_inclusive = true;
  double max = std::numeric_limits<double>::infinity();
  bool max_inclusive = true;
  std::vector<std::string> choices;  // kChoice
  bool non_empty = false;            // kIntList, kDoubleList
  // Where PyTorch's optimizer state_dict keeps it in each of `param_groups`:
  // "momentum", or "betas.0" for the first element of a pair. Empty: nowhere.
  std::string pytorch_key;

  OptionSpec& AtLeast(double value);
  OptionSpec& Above(double value);
  OptionSpec& AtMost(double value);
  OptionSpec& Below(double value);
  OptionSpec& NonEmpty();
  OptionSpec& PyTorchKey(std::string key);

  // "> 0", "in [0, 1)", "one of rel, abs", "" when anything of the type goes.
  std::string RangeText() const;
};

OptionSpec BoolOption(std::string name, bool default_value, std::string help);
OptionSpec IntOption(std::string name, int64_t default_value, std::string help);
OptionSpec DoubleOption(std::string name, double default_value, std::string help);
OptionSpec ChoiceOption(std::string name, std::string default_value,
                        std::vector<std::string> choices, std::string help);
OptionSpec IntListOption(std::string name, std::vector<int64_t> default_value, std::string help);
OptionSpec DoubleListOption(std::string name, std::vector<double> default_value, std::string help);

using DeclaredOptions = std::vector<OptionSpec>;

// Every declared option's checked value, given or default. Reading an option
// that was not declared is a programmer error (CHECK).
class OptionValues {
 public:
  OptionValues() = default;

  bool Bool(const std::string& name) const;
  int64_t Int(const std::string& name) const;
  double Double(const std::string& name) const;
  std::string Choice(const std::string& name) const;
  std::vector<int64_t> IntList(const std::string& name) const;
  std::vector<double> DoubleList(const std::string& name) const;

  // The values as one JSON object, keys sorted.
  const nlohmann::json& json() const { return values_; }
  // One value as the record and --helpshort show it: 0.01, true, [10,15], rel.
  std::string Text(const std::string& name) const;

 private:
  friend absl::StatusOr<OptionValues> ResolveOptions(
      const DeclaredOptions&, const nlohmann::json&, const std::string&,
      const std::function<std::string(const std::string&)>&);
  const nlohmann::json& At(const std::string& name) const;

  nlohmann::json values_ = nlohmann::json::object();
};

// Checks `given` (a JSON object; null counts as empty) against `declared` and
// fills in the defaults. `what` names the owner in errors ("optimizer
// 'adagrad'"); `where(key)` says where the user set a key ("--lr", "key
// \"lr_decay\" of --optimizer_options"), and is put before each problem.
absl::StatusOr<OptionValues> ResolveOptions(
    const DeclaredOptions& declared, const nlohmann::json& given, const std::string& what,
    const std::function<std::string(const std::string& key)>& where);

// The JSON value of `text` for `spec`, as a flag spells it: true/false, an
// integer, a number, a choice, or comma-separated integers or numbers.
absl::StatusOr<nlohmann::json> ParseOptionText(const OptionSpec& spec, const std::string& text);

// The declared option named `name`, or null.
const OptionSpec* FindOption(const DeclaredOptions& declared, const std::string& name);

// "lr, lr_decay, eps": for messages that list what is there.
std::string OptionNames(const DeclaredOptions& declared);

// The lines --helpshort prints for one plugin's options: each with its
// effective value, range and help; `flag_of(name)` names a flag that sets it
// too (empty: none).
std::string DescribeOptions(const DeclaredOptions& declared, const OptionValues& values,
                            const std::function<std::string(const std::string& name)>& flag_of);

}  // namespace framework

#endif  // FRAMEWORK_CORE_DECLARED_OPTIONS_H_
