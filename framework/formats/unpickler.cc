#include "framework/formats/unpickler.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace framework {

const char* KindName(PyValue::Kind kind) {
  switch (kind) {
    case PyValue::Kind::kNone: return "None";
    case PyValue::Kind::kBool: return "bool";
    case PyValue::Kind::kInt: return "int";
    case PyValue::Kind::kFloat: return "float";
    case PyValue::Kind::kString: return "str";
    case PyValue::Kind::kBytes: return "bytes";
    case PyValue::Kind::kList: return "list";
    case PyValue::Kind::kTuple: return "tuple";
    case PyValue::Kind::kDict: return "dict";
    case PyValue::Kind::kGlobal: return "global";
    case PyValue::Kind::kStorage: return "storage";
    case PyValue::Kind::kTensor: return "tensor";
  }
  return "?";
}
const std::map<std::string, c10::ScalarType>& StorageTypes() {
  static const auto* types = new std::map<std::string, c10::ScalarType>{
      {"torch.DoubleStorage", c10::kDouble}, {"torch.FloatStorage", c10::kFloat},
      {"torch.HalfStorage", c10::kHalf},     {"torch.BFloat16Storage", c10::kBFloat16},
      {"torch.LongStorage", c10::kLong},     {"torch.IntStorage", c10::kInt},
      {"torch.ShortStorage", c10::kShort},   {"torch.CharStorage", c10::kChar},
      {"torch.ByteStorage", c10::kByte},     {"torch.BoolStorage", c10::kBool},
      {"torch.UntypedStorage", c10::kByte}};
  return *types;
}
namespace {

// The globals a state dict needs (cf. torch.load(weights_only=True)).
bool AllowedGlobal(const std::string& name) {
  static const auto* allowed = new std::set<std::string>{
      "collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter", "torch.nn.parameter.Parameter", "_codecs.encode"};
  return allowed->count(name) > 0 || StorageTypes().count(name) > 0;
}

// Bounds on what a pickle may build, so that a small hostile file cannot
// exhaust the stack (nesting; consumers recurse) or memory (objects, memo).
// A state dict nests 4 deep and needs ~10 objects a tensor.
constexpr int kMaxPickleNesting = 100;
constexpr size_t kMaxPickleObjects = size_t{1} << 23;
constexpr size_t kMaxPickleMemo = size_t{1} << 20;
class Unpickler {
 public:
  Unpickler(const std::string& source, const char* data, size_t size, StorageLoader loader)
      : source_(source), data_(data), size_(size), load_storage_(std::move(loader)) {}

  absl::StatusOr<PyRef> Load() {
    while (true) {
      if (position_ >= size_) return Error("pickle ends without STOP");
      const size_t opcode_at = position_;
      const unsigned char opcode = static_cast<unsigned char>(data_[position_++]);
      absl::Status status = Dispatch(opcode);
      if (status.ok() && objects_ > kMaxPickleObjects) {
        status = Error(absl::StrCat("pickle builds more than ", kMaxPickleObjects, " objects"));
      }
      if (!status.ok()) {
        return absl::Status(status.code(), absl::StrCat(status.message(), " (pickle offset ",
                                                        opcode_at, ")"));
      }
      if (stopped_) break;
    }
    if (stack_.size() != 1) return Error("pickle does not leave exactly one object");
    return stack_.back();
  }

 private:
  absl::Status Error(const std::string& problem) const {
    return absl::DataLossError(absl::StrCat(source_, ": ", problem));
  }

  absl::Status Need(size_t bytes) const {
    if (size_ - position_ < bytes) return Error("truncated pickle data");
    return absl::OkStatus();
  }

  template <typename T>
  absl::StatusOr<T> ReadLittle(size_t bytes) {
    if (absl::Status s = Need(bytes); !s.ok()) return s;
    uint64_t value = 0;
    for (size_t i = 0; i < bytes; ++i) {
      value |= uint64_t{static_cast<unsigned char>(data_[position_ + i])} << (8 * i);
    }
    position_ += bytes;
    return static_cast<T>(value);
  }

  absl::StatusOr<std::string> ReadBytes(uint64_t length) {
    if (length > size_ - position_) return Error("truncated pickle data");
    std::string bytes(data_ + position_, length);
    position_ += length;
    return bytes;
  }

  absl::StatusOr<std::string> ReadLine() {
    const void* end = std::memchr(data_ + position_, '\n', size_ - position_);
    if (end == nullptr) return Error("truncated pickle data");
    const size_t length = static_cast<const char*>(end) - (data_ + position_);
    std::string line(data_ + position_, length);
    position_ += length + 1;
    return line;
  }

  absl::StatusOr<PyRef> Pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      return Error("pickle stack underflow");
    }
    PyRef value = stack_.back();
    stack_.pop_back();
    return value;
  }

  absl::StatusOr<std::vector<PyRef>> PopMark() {
    if (marks_.empty()) return Error("pickle MARK missing");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return items;
  }

  absl::StatusOr<PyRef> Top() {
    if (stack_.empty()) return Error("pickle stack underflow");
    return stack_.back();
  }

  void Push(PyRef value) { stack_.push_back(std::move(value)); }

  // Every object is made here, so their number is bounded; once over the
  // bound, Load() fails at the next opcode.
  PyRef New(PyValue::Kind kind) {
    ++objects_;
    return PyValue::Make(kind);
  }

  // Records that `child` now lives inside `parent`.
  absl::Status Adopt(PyValue& parent, const PyRef& child) {
    if (child.get() == &parent) return Error("pickle puts an object inside itself");
    if (child->depth >= kMaxPickleNesting) {
      return Error(absl::StrCat("pickle nests objects more than ", kMaxPickleNesting, " deep"));
    }
    parent.depth = std::max(parent.depth, child->depth + 1);
    child->contained = true;
    return absl::OkStatus();
  }

  absl::Status CheckMutable(const PyValue& container) {
    if (container.contained) {
      return Error("pickle changes an object after placing it inside another (a cycle or a shared "
                   "mutable object, which no state dict has)");
    }
    return absl::OkStatus();
  }

  absl::Status Memoize(uint32_t index, const PyRef& value) {
    if (memo_.size() >= kMaxPickleMemo && memo_.count(index) == 0) {
      return Error(absl::StrCat("pickle memo exceeds ", kMaxPickleMemo, " entries"));
    }
    memo_[index] = value;
    return absl::OkStatus();
  }

  PyRef Int(int64_t value) {
    PyRef v = New(PyValue::Kind::kInt);
    v->integer = value;
    return v;
  }

  PyRef Text(PyValue::Kind kind, std::string text) {
    PyRef v = New(kind);
    v->text = std::move(text);
    return v;
  }

  absl::Status Global(const std::string& module, const std::string& name) {
    const std::string full = absl::StrCat(module, ".", name);
    if (!AllowedGlobal(full)) {
      return absl::PermissionDeniedError(absl::StrCat(
          source_, ": refusing to load global '", full,
          "': only the globals a state_dict needs are allowed (as torch.load(weights_only=True) "
          "does); nothing was executed"));
    }
    Push(Text(PyValue::Kind::kGlobal, full));
    return absl::OkStatus();
  }

  absl::Status SetItems(const PyRef& dict, const std::vector<PyRef>& items) {
    if (dict->kind != PyValue::Kind::kDict) {
      return Error(absl::StrCat("SETITEMS on a ", KindName(dict->kind)));
    }
    if (items.size() % 2 != 0) return Error("odd number of dict items");
    if (absl::Status s = CheckMutable(*dict); !s.ok()) return s;
    for (const PyRef& item : items) {
      if (absl::Status s = Adopt(*dict, item); !s.ok()) return s;
    }
    for (size_t i = 0; i < items.size(); i += 2) {
      bool replaced = false;
      for (auto& entry : dict->entries) {
        if (entry.first->kind == PyValue::Kind::kString && items[i]->kind == PyValue::Kind::kString &&
            entry.first->text == items[i]->text) {
          entry.second = items[i + 1];
          replaced = true;
        }
      }
      if (!replaced) dict->entries.push_back({items[i], items[i + 1]});
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> AsInt(const PyRef& value, const char* what) {
    if (value->kind == PyValue::Kind::kInt) return value->integer;
    if (value->kind == PyValue::Kind::kBool) return value->boolean ? 1 : 0;
    return Error(absl::StrCat(what, " is a ", KindName(value->kind), ", expected an int"));
  }

  absl::StatusOr<std::vector<int64_t>> AsInts(const PyRef& value, const char* what) {
    if (value->kind != PyValue::Kind::kTuple && value->kind != PyValue::Kind::kList) {
      return Error(absl::StrCat(what, " is a ", KindName(value->kind), ", expected a tuple"));
    }
    std::vector<int64_t> ints;
    for (const PyRef& item : value->items) {
      absl::StatusOr<int64_t> i = AsInt(item, what);
      if (!i.ok()) return i.status();
      ints.push_back(*i);
    }
    return ints;
  }

  absl::StatusOr<PyRef> Call(const PyRef& callable, const PyRef& args) {
    if (callable->kind != PyValue::Kind::kGlobal) {
      return Error(absl::StrCat("cannot call a ", KindName(callable->kind)));
    }
    if (args->kind != PyValue::Kind::kTuple) return Error("call arguments are not a tuple");
    const std::string& name = callable->text;
    const std::vector<PyRef>& a = args->items;
    if (name == "collections.OrderedDict") {
      PyRef dict = New(PyValue::Kind::kDict);
      if (!a.empty() && a[0]->kind == PyValue::Kind::kList) {
        for (const PyRef& pair : a[0]->items) {
          if (pair->items.size() != 2) return Error("bad OrderedDict item");
          if (absl::Status s = SetItems(dict, pair->items); !s.ok()) return s;
        }
      }
      return dict;
    }
    if (name == "torch._utils._rebuild_tensor_v2") {
      if (a.size() < 4 || a[0]->kind != PyValue::Kind::kStorage) {
        return Error("bad arguments to torch._utils._rebuild_tensor_v2");
      }
      absl::StatusOr<int64_t> offset = AsInt(a[1], "storage offset");
      absl::StatusOr<std::vector<int64_t>> sizes = AsInts(a[2], "tensor size");
      absl::StatusOr<std::vector<int64_t>> strides = AsInts(a[3], "tensor stride");
      for (const absl::Status& s : {offset.status(), sizes.status(), strides.status()}) {
        if (!s.ok()) return s;
      }
      const at::Tensor& storage = a[0]->tensor;
      if (sizes->size() != strides->size()) return Error("tensor size and stride differ in length");
      // The view must stay inside its storage; every product and sum is
      // checked, since a hostile file picks the sizes.
      int64_t last = *offset;
      int64_t numel = 1;
      bool overflow = false;
      for (size_t d = 0; d < sizes->size(); ++d) {
        if ((*sizes)[d] < 0 || (*strides)[d] < 0) return Error("negative tensor size or stride");
        overflow |= __builtin_mul_overflow(numel, (*sizes)[d], &numel);
        int64_t extent = 0;
        overflow |= __builtin_mul_overflow((*sizes)[d] == 0 ? 0 : (*sizes)[d] - 1, (*strides)[d], &extent);
        overflow |= __builtin_add_overflow(last, extent, &last);
      }
      if (overflow) {
        return Error(absl::StrFormat("tensor view (offset %d, size %s, stride %s) overflows 64 bits",
                                     *offset, c10::str(*sizes), c10::str(*strides)));
      }
      if (numel == 0) last = -1;
      if (*offset < 0 || last >= storage.numel()) {
        return Error(absl::StrFormat("tensor view (offset %d, size %s, stride %s) exceeds its "
                                     "storage of %d elements",
                                     *offset, c10::str(*sizes), c10::str(*strides), storage.numel()));
      }
      PyRef tensor = New(PyValue::Kind::kTensor);
      tensor->tensor = storage.as_strided(*sizes, *strides, *offset);
      return tensor;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch.nn.parameter.Parameter") {
      if (a.empty() || a[0]->kind != PyValue::Kind::kTensor) return Error("bad Parameter");
      return a[0];
    }
    if (name == "_codecs.encode") {
      if (a.empty() || a[0]->kind != PyValue::Kind::kString) return Error("bad _codecs.encode");
      // Protocol 2 writes bytes as latin-1 text; undo the UTF-8 of the text.
      std::string bytes;
      const std::string& text = a[0]->text;
      for (size_t i = 0; i < text.size(); ++i) {
        const unsigned char c = text[i];
        if (c < 0x80) {
          bytes.push_back(static_cast<char>(c));
        } else if (i + 1 < text.size()) {
          bytes.push_back(static_cast<char>(((c & 0x03) << 6) | (text[++i] & 0x3f)));
        }
      }
      return Text(PyValue::Kind::kBytes, bytes);
    }
    return Error(absl::StrCat("cannot call ", name));
  }

  absl::Status PersistentLoad(const PyRef& pid) {
    if (pid->kind != PyValue::Kind::kTuple || pid->items.size() != 5 ||
        pid->items[0]->kind != PyValue::Kind::kString || pid->items[0]->text != "storage" ||
        pid->items[1]->kind != PyValue::Kind::kGlobal) {
      return Error("unsupported persistent id (expected ('storage', type, key, location, numel))");
    }
    auto type = StorageTypes().find(pid->items[1]->text);
    if (type == StorageTypes().end()) return Error("unknown storage type " + pid->items[1]->text);
    const std::string key = pid->items[2]->text;
    const std::string location = pid->items[3]->text;
    absl::StatusOr<int64_t> numel = AsInt(pid->items[4], "storage size");
    if (!numel.ok()) return numel.status();
    auto cached = storages_.find(key);
    at::Tensor storage;
    if (cached != storages_.end()) {
      storage = cached->second;
    } else {
      absl::StatusOr<at::Tensor> loaded = load_storage_(key, type->second, *numel, location);
      if (!loaded.ok()) return loaded.status();
      storage = *loaded;
      storages_[key] = storage;  // later views share it, as in PyTorch
    }
    PyRef value = New(PyValue::Kind::kStorage);
    value->tensor = storage;
    Push(value);
    return absl::OkStatus();
  }

  absl::Status Dispatch(unsigned char opcode) {
    switch (opcode) {
      case 0x80: {  // PROTO
        absl::StatusOr<uint8_t> protocol = ReadLittle<uint8_t>(1);
        if (!protocol.ok()) return protocol.status();
        if (*protocol > 5) return Error(absl::StrCat("unsupported pickle protocol ", *protocol));
        return absl::OkStatus();
      }
      case 0x95:  // FRAME
        return ReadLittle<uint64_t>(8).status();
      case '.':  // STOP
        stopped_ = true;
        return absl::OkStatus();
      case '(':  // MARK
        marks_.push_back(stack_.size());
        return absl::OkStatus();
      case '0':  // POP
        return Pop().status();
      case '1':  // POP_MARK
        return PopMark().status();
      case '2': {  // DUP
        absl::StatusOr<PyRef> top = Top();
        if (!top.ok()) return top.status();
        Push(*top);
        return absl::OkStatus();
      }
      case 'N':
        Push(New(PyValue::Kind::kNone));
        return absl::OkStatus();
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        PyRef v = New(PyValue::Kind::kBool);
        v->boolean = opcode == 0x88;
        Push(v);
        return absl::OkStatus();
      }
      case 'J': {  // BININT
        absl::StatusOr<int32_t> v = ReadLittle<int32_t>(4);
        if (!v.ok()) return v.status();
        Push(Int(*v));
        return absl::OkStatus();
      }
      case 'K': {  // BININT1
        absl::StatusOr<uint8_t> v = ReadLittle<uint8_t>(1);
        if (!v.ok()) return v.status();
        Push(Int(*v));
        return absl::OkStatus();
      }
      case 'M': {  // BININT2
        absl::StatusOr<uint16_t> v = ReadLittle<uint16_t>(2);
        if (!v.ok()) return v.status();
        Push(Int(*v));
        return absl::OkStatus();
      }
      case 0x8a: {  // LONG1
        absl::StatusOr<uint8_t> n = ReadLittle<uint8_t>(1);
        if (!n.ok()) return n.status();
        if (*n > 8) return Error("integer does not fit in 64 bits");
        absl::StatusOr<uint64_t> raw = *n == 0 ? absl::StatusOr<uint64_t>(0) : ReadLittle<uint64_t>(*n);
        if (!raw.ok()) return raw.status();
        int64_t value = static_cast<int64_t>(*raw);
        if (*n > 0 && *n < 8 && (*raw >> (8 * *n - 1)) & 1) value -= int64_t{1} << (8 * *n);
        Push(Int(value));
        return absl::OkStatus();
      }
      case 'I': {  // INT (text)
        absl::StatusOr<std::string> line = ReadLine();
        if (!line.ok()) return line.status();
        if (*line == "00" || *line == "01") {
          PyRef v = New(PyValue::Kind::kBool);
          v->boolean = *line == "01";
          Push(v);
        } else {
          Push(Int(std::strtoll(line->c_str(), nullptr, 10)));
        }
        return absl::OkStatus();
      }
      case 'G': {  // BINFLOAT, big-endian
        if (absl::Status s = Need(8); !s.ok()) return s;
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(data_[position_ + i]);
        position_ += 8;
        PyRef v = New(PyValue::Kind::kFloat);
        std::memcpy(&v->number, &bits, 8);
        Push(v);
        return absl::OkStatus();
      }
      case 'X':
      case 0x8c:
      case 0x8d:
      case 'T':
      case 'U':
      case 'B':
      case 'C':
      case 0x8e: {  // strings and bytes with 4-, 1- or 8-byte lengths
        const size_t length_bytes =
            (opcode == 0x8c || opcode == 'U' || opcode == 'C') ? 1 : (opcode == 0x8d || opcode == 0x8e) ? 8 : 4;
        absl::StatusOr<uint64_t> length = ReadLittle<uint64_t>(length_bytes);
        if (!length.ok()) return length.status();
        absl::StatusOr<std::string> bytes = ReadBytes(*length);
        if (!bytes.ok()) return bytes.status();
        const bool is_bytes = opcode == 'B' || opcode == 'C' || opcode == 0x8e;
        Push(Text(is_bytes ? PyValue::Kind::kBytes : PyValue::Kind::kString, *std::move(bytes)));
        return absl::OkStatus();
      }
      case ']':
      case 0x8f:  // EMPTY_LIST, EMPTY_SET
        Push(New(PyValue::Kind::kList));
        return absl::OkStatus();
      case '}':
        Push(New(PyValue::Kind::kDict));
        return absl::OkStatus();
      case ')':
        Push(New(PyValue::Kind::kTuple));
        return absl::OkStatus();
      case 'a': {  // APPEND
        absl::StatusOr<PyRef> item = Pop();
        if (!item.ok()) return item.status();
        absl::StatusOr<PyRef> list = Top();
        if (!list.ok()) return list.status();
        if ((*list)->kind != PyValue::Kind::kList) return Error("APPEND to a non-list");
        if (absl::Status s = CheckMutable(**list); !s.ok()) return s;
        if (absl::Status s = Adopt(**list, *item); !s.ok()) return s;
        (*list)->items.push_back(*item);
        return absl::OkStatus();
      }
      case 'e':
      case 0x90: {  // APPENDS, ADDITEMS
        absl::StatusOr<std::vector<PyRef>> items = PopMark();
        if (!items.ok()) return items.status();
        absl::StatusOr<PyRef> list = Top();
        if (!list.ok()) return list.status();
        if ((*list)->kind != PyValue::Kind::kList) return Error("APPENDS to a non-list");
        if (absl::Status s = CheckMutable(**list); !s.ok()) return s;
        for (const PyRef& item : *items) {
          if (absl::Status s = Adopt(**list, item); !s.ok()) return s;
        }
        (*list)->items.insert((*list)->items.end(), items->begin(), items->end());
        return absl::OkStatus();
      }
      case 'l':
      case 't': {  // LIST, TUPLE
        absl::StatusOr<std::vector<PyRef>> items = PopMark();
        if (!items.ok()) return items.status();
        PyRef v = New(opcode == 'l' ? PyValue::Kind::kList : PyValue::Kind::kTuple);
        for (const PyRef& item : *items) {
          if (absl::Status s = Adopt(*v, item); !s.ok()) return s;
        }
        v->items = *std::move(items);
        Push(v);
        return absl::OkStatus();
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t count = opcode - 0x84;
        if (stack_.size() < count + (marks_.empty() ? 0 : marks_.back())) {
          return Error("pickle stack underflow");
        }
        PyRef v = New(PyValue::Kind::kTuple);
        v->items.assign(stack_.end() - count, stack_.end());
        for (const PyRef& item : v->items) {
          if (absl::Status s = Adopt(*v, item); !s.ok()) return s;
        }
        stack_.resize(stack_.size() - count);
        Push(v);
        return absl::OkStatus();
      }
      case 'd': {  // DICT
        absl::StatusOr<std::vector<PyRef>> items = PopMark();
        if (!items.ok()) return items.status();
        PyRef dict = New(PyValue::Kind::kDict);
        if (absl::Status s = SetItems(dict, *items); !s.ok()) return s;
        Push(dict);
        return absl::OkStatus();
      }
      case 's': {  // SETITEM
        absl::StatusOr<PyRef> value = Pop();
        if (!value.ok()) return value.status();
        absl::StatusOr<PyRef> key = Pop();
        if (!key.ok()) return key.status();
        absl::StatusOr<PyRef> dict = Top();
        if (!dict.ok()) return dict.status();
        return SetItems(*dict, {*key, *value});
      }
      case 'u': {  // SETITEMS
        absl::StatusOr<std::vector<PyRef>> items = PopMark();
        if (!items.ok()) return items.status();
        absl::StatusOr<PyRef> dict = Top();
        if (!dict.ok()) return dict.status();
        return SetItems(*dict, *items);
      }
      case 'c': {  // GLOBAL
        absl::StatusOr<std::string> module = ReadLine();
        if (!module.ok()) return module.status();
        absl::StatusOr<std::string> name = ReadLine();
        if (!name.ok()) return name.status();
        return Global(*module, *name);
      }
      case 0x93: {  // STACK_GLOBAL
        absl::StatusOr<PyRef> name = Pop();
        if (!name.ok()) return name.status();
        absl::StatusOr<PyRef> module = Pop();
        if (!module.ok()) return module.status();
        return Global((*module)->text, (*name)->text);
      }
      case 'R':
      case 0x81: {  // REDUCE, NEWOBJ
        absl::StatusOr<PyRef> args = Pop();
        if (!args.ok()) return args.status();
        absl::StatusOr<PyRef> callable = Pop();
        if (!callable.ok()) return callable.status();
        absl::StatusOr<PyRef> result = Call(*callable, *args);
        if (!result.ok()) return result.status();
        Push(*result);
        return absl::OkStatus();
      }
      case 'b': {  // BUILD: object state (OrderedDict _metadata, tensor attributes)
        absl::StatusOr<PyRef> state = Pop();
        if (!state.ok()) return state.status();
        absl::StatusOr<PyRef> object = Top();
        if (!object.ok()) return object.status();
        if ((*object)->kind != PyValue::Kind::kDict && (*object)->kind != PyValue::Kind::kTensor) {
          return Error(absl::StrCat("BUILD on a ", KindName((*object)->kind)));
        }
        return absl::OkStatus();
      }
      case 'q':
      case 'r': {  // BINPUT, LONG_BINPUT
        absl::StatusOr<uint32_t> index = ReadLittle<uint32_t>(opcode == 'q' ? 1 : 4);
        if (!index.ok()) return index.status();
        absl::StatusOr<PyRef> top = Top();
        if (!top.ok()) return top.status();
        return Memoize(*index, *top);
      }
      case 0x94: {  // MEMOIZE
        absl::StatusOr<PyRef> top = Top();
        if (!top.ok()) return top.status();
        return Memoize(static_cast<uint32_t>(memo_.size()), *top);
      }
      case 'p': {  // PUT (text)
        absl::StatusOr<std::string> line = ReadLine();
        if (!line.ok()) return line.status();
        absl::StatusOr<PyRef> top = Top();
        if (!top.ok()) return top.status();
        return Memoize(static_cast<uint32_t>(std::strtoul(line->c_str(), nullptr, 10)), *top);
      }
      case 'h':
      case 'j':
      case 'g': {  // BINGET, LONG_BINGET, GET
        uint32_t index = 0;
        if (opcode == 'g') {
          absl::StatusOr<std::string> line = ReadLine();
          if (!line.ok()) return line.status();
          index = static_cast<uint32_t>(std::strtoul(line->c_str(), nullptr, 10));
        } else {
          absl::StatusOr<uint32_t> read = ReadLittle<uint32_t>(opcode == 'h' ? 1 : 4);
          if (!read.ok()) return read.status();
          index = *read;
        }
        auto it = memo_.find(index);
        if (it == memo_.end()) return Error(absl::StrCat("memo entry ", index, " missing"));
        Push(it->second);
        return absl::OkStatus();
      }
      case 'Q': {  // BINPERSID
        absl::StatusOr<PyRef> pid = Pop();
        if (!pid.ok()) return pid.status();
        return PersistentLoad(*pid);
      }
      default:
        return Error(absl::StrFormat("unsupported pickle opcode 0x%02x", opcode));
    }
  }

  const std::string source_;
  const char* data_;
  const size_t size_;
  size_t position_ = 0;
  StorageLoader load_storage_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::map<uint32_t, PyRef> memo_;
  size_t objects_ = 0;
  std::map<std::string, at::Tensor> storages_;
  bool stopped_ = false;
};

}  // namespace

absl::StatusOr<PyRef> Unpickle(const std::string& source, const char* data, size_t size,
                               StorageLoader load_storage) {
  Unpickler unpickler(source, data, size, std::move(load_storage));
  return unpickler.Load();
}

}  // namespace framework
