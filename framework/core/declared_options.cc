#include "framework/core/declared_options.h"

#include <cmath>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"

namespace framework {
namespace {

OptionSpec Declare(std::string name, OptionType type, nlohmann::json default_value,
                   std::string help) {
  OptionSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(default_value);
  spec.help = std::move(help);
  return spec;
}

std::string Number(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return absl::StrCat(value);
}

bool InRange(const OptionSpec& spec, double value) {
  const bool above_min = spec.min_inclusive ? value >= spec.min : value > spec.min;
  const bool below_max = spec.max_inclusive ? value <= spec.max : value < spec.max;
  return above_min && below_max;
}

// A value as the record and --helpshort show it: 0.01, true, [10,15], rel.
std::string ValueText(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

const char* TypeName(OptionType type) {
  switch (type) {
    case OptionType::kBool: return "true or false";
    case OptionType::kInt: return "an integer";
    case OptionType::kDouble: return "a number";
    case OptionType::kChoice: return "a string";
    case OptionType::kIntList: return "a list of integers";
    case OptionType::kDoubleList: return "a list of numbers";
  }
  return "?";
}

// What is wrong with `value` for `spec`, or "" when it fits.
std::string Problem(const OptionSpec& spec, const nlohmann::json& value) {
  const std::string got = absl::StrCat(", got ", value.dump());
  switch (spec.type) {
    case OptionType::kBool:
      if (!value.is_boolean()) return absl::StrCat("must be ", TypeName(spec.type), got);
      return "";
    case OptionType::kInt:
    case OptionType::kDouble: {
      const bool fits_type =
          spec.type == OptionType::kInt ? value.is_number_integer() : value.is_number();
      if (!fits_type) return absl::StrCat("must be ", TypeName(spec.type), got);
      if (!InRange(spec, value.get<double>())) {
        return absl::StrCat("must be ", spec.RangeText(), got);
      }
      return "";
    }
    case OptionType::kChoice:
      if (!value.is_string()) return absl::StrCat("must be ", spec.RangeText(), got);
      for (const std::string& choice : spec.choices) {
        if (value.get<std::string>() == choice) return "";
      }
      return absl::StrCat("must be ", spec.RangeText(), got);
    case OptionType::kIntList:
    case OptionType::kDoubleList: {
      const bool integers = spec.type == OptionType::kIntList;
      if (!value.is_array()) return absl::StrCat("must be ", TypeName(spec.type), got);
      if (spec.non_empty && value.empty()) return absl::StrCat("must not be empty", got);
      for (const nlohmann::json& element : value) {
        if (integers ? !element.is_number_integer() : !element.is_number()) {
          return absl::StrCat("must be ", TypeName(spec.type), got);
        }
        if (!InRange(spec, element.get<double>())) {
          return absl::StrCat("must hold ", integers ? "integers " : "numbers ", spec.RangeText(),
                              got);
        }
      }
      return "";
    }
  }
  return "unknown option type";
}

}  // namespace

OptionSpec& OptionSpec::AtLeast(double value) {
  min = value;
  min_inclusive = true;
  return *this;
}
OptionSpec& OptionSpec::Above(double value) {
  min = value;
  min_inclusive = false;
  return *this;
}
OptionSpec& OptionSpec::AtMost(double value) {
  max = value;
  max_inclusive = true;
  return *this;
}
OptionSpec& OptionSpec::Below(double value) {
  max = value;
  max_inclusive = false;
  return *this;
}
OptionSpec& OptionSpec::NonEmpty() {
  non_empty = true;
  return *this;
}
OptionSpec& OptionSpec::PyTorchKey(std::string key) {
  pytorch_key = std::move(key);
  return *this;
}

std::string OptionSpec::RangeText() const {
  if (type == OptionType::kChoice) return absl::StrCat("one of ", absl::StrJoin(choices, ", "));
  if (type == OptionType::kBool) return "";
  const bool has_min = !std::isinf(min);
  const bool has_max = !std::isinf(max);
  if (has_min && has_max) {
    return absl::StrCat("in ", min_inclusive ? "[" : "(", Number(min), ", ", Number(max),
                        max_inclusive ? "]" : ")");
  }
  if (has_min) return absl::StrCat(min_inclusive ? ">= " : "> ", Number(min));
  if (has_max) return absl::StrCat(max_inclusive ? "<= " : "< ", Number(max));
  return "";
}

OptionSpec BoolOption(std::string name, bool default_value, std::string help) {
  return Declare(std::move(name), OptionType::kBool, default_value, std::move(help));
}
OptionSpec IntOption(std::string name, int64_t default_value, std::string help) {
  return Declare(std::move(name), OptionType::kInt, default_value, std::move(help));
}
OptionSpec DoubleOption(std::string name, double default_value, std::string help) {
  return Declare(std::move(name), OptionType::kDouble, default_value, std::move(help));
}
OptionSpec ChoiceOption(std::string name, std::string default_value,
                        std::vector<std::string> choices, std::string help) {
  OptionSpec spec =
      Declare(std::move(name), OptionType::kChoice, std::move(default_value), std::move(help));
  spec.choices = std::move(choices);
  return spec;
}
OptionSpec IntListOption(std::string name, std::vector<int64_t> default_value, std::string help) {
  return Declare(std::move(name), OptionType::kIntList, default_value, std::move(help));
}
OptionSpec DoubleListOption(std::string name, std::vector<double> default_value, std::string help) {
  return Declare(std::move(name), OptionType::kDoubleList, default_value, std::move(help));
}

const nlohmann::json& OptionValues::At(const std::string& name) const {
  auto it = values_.find(name);
  CHECK(it != values_.end()) << "option '" << name << "' was not declared";
  return *it;
}
bool OptionValues::Bool(const std::string& name) const { return At(name).get<bool>(); }
int64_t OptionValues::Int(const std::string& name) const { return At(name).get<int64_t>(); }
double OptionValues::Double(const std::string& name) const { return At(name).get<double>(); }
std::string OptionValues::Choice(const std::string& name) const {
  return At(name).get<std::string>();
}
std::vector<int64_t> OptionValues::IntList(const std::string& name) const {
  return At(name).get<std::vector<int64_t>>();
}
std::vector<double> OptionValues::DoubleList(const std::string& name) const {
  return At(name).get<std::vector<double>>();
}
std::string OptionValues::Text(const std::string& name) const {
  return ValueText(At(name));
}

absl::StatusOr<OptionValues> ResolveOptions(
    const DeclaredOptions& declared, const nlohmann::json& given, const std::string& what,
    const std::function<std::string(const std::string& key)>& where) {
  if (!given.is_null() && !given.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": options must be a JSON object, got ", given.dump()));
  }
  OptionValues values;
  std::set<std::string> known;
  for (const OptionSpec& spec : declared) {
    known.insert(spec.name);
    const bool is_given = given.is_object() && given.contains(spec.name);
    nlohmann::json value = is_given ? given.at(spec.name) : spec.default_value;
    // JSON writes 2.0 as 2: an integer is a fine number.
    if (spec.type == OptionType::kDouble && value.is_number()) value = value.get<double>();
    if (spec.type == OptionType::kDoubleList && value.is_array()) {
      for (nlohmann::json& element : value) {
        if (element.is_number()) element = element.get<double>();
      }
    }
    const std::string problem = Problem(spec, value);
    if (!problem.empty() && !is_given) {
      // Only an option without a usable default (an empty list that must not
      // be) gets here.
      return absl::InvalidArgumentError(absl::StrCat(where(spec.name), ": ", what,
                                                     " needs option '", spec.name, "' (",
                                                     spec.help, ")"));
    }
    if (!problem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(spec.name), ": option '", spec.name, "' of ", what, " ", problem));
    }
    values.values_[spec.name] = value;
  }
  if (given.is_object()) {
    for (auto it = given.begin(); it != given.end(); ++it) {
      if (known.count(it.key()) != 0) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          where(it.key()), ": ", what, " has no option '", it.key(), "'; its options are ",
          declared.empty() ? std::string("none") : OptionNames(declared)));
    }
  }
  return values;
}

absl::StatusOr<nlohmann::json> ParseOptionText(const OptionSpec& spec, const std::string& text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not ", TypeName(spec.type)));
  };
  switch (spec.type) {
    case OptionType::kBool:
      if (text == "true" || text == "1") return nlohmann::json(true);
      if (text == "false" || text == "0") return nlohmann::json(false);
      return bad();
    case OptionType::kInt: {
      int64_t value = 0;
      if (!absl::SimpleAtoi(text, &value)) return bad();
      return nlohmann::json(value);
    }
    case OptionType::kDouble: {
      double value = 0;
      if (!absl::SimpleAtod(text, &value)) return bad();
      return nlohmann::json(value);
    }
    case OptionType::kChoice:
      return nlohmann::json(text);
    case OptionType::kIntList: {
      nlohmann::json list = nlohmann::json::array();
      for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
        int64_t value = 0;
        if (!absl::SimpleAtoi(piece, &value)) return bad();
        list.push_back(value);
      }
      return list;
    }
    case OptionType::kDoubleList: {
      nlohmann::json list = nlohmann::json::array();
      for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
        double value = 0;
        if (!absl::SimpleAtod(piece, &value)) return bad();
        list.push_back(value);
      }
      return list;
    }
  }
  return bad();
}

const OptionSpec* FindOption(const DeclaredOptions& declared, const std::string& name) {
  for (const OptionSpec& spec : declared) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::string OptionNames(const DeclaredOptions& declared) {
  std::vector<std::string> names;
  for (const OptionSpec& spec : declared) names.push_back(spec.name);
  return absl::StrJoin(names, ", ");
}

std::string DescribeOptions(const DeclaredOptions& declared, const OptionValues& values,
                            const std::function<std::string(const std::string& name)>& flag_of) {
  std::ostringstream out;
  for (const OptionSpec& spec : declared) {
    const std::string flag = flag_of(spec.name);
    out << "  " << spec.name << "=" << values.Text(spec.name);
    if (!flag.empty()) out << "  (or " << flag << ")";
    out << "\n      " << spec.help;
    const std::string range = spec.RangeText();
    if (!range.empty()) out << " Range: " << range << ".";
    const std::string default_text = ValueText(spec.default_value);
    if (values.Text(spec.name) != default_text) out << " (default: " << default_text << ")";
    if (!spec.pytorch_key.empty()) out << " PyTorch: param_groups[]." << spec.pytorch_key << ".";
    out << "\n";
  }
  return out.str();
}

}  // namespace framework
