"""An independent decoder of a run's TensorBoard event files: the messages
are declared here, field by field, from TensorFlow's event.proto and
summary.proto and TensorBoard's hparams api.proto and plugin_data.proto,
and parsed by Debian's python3-protobuf (not by the project's encoder).

  hparams_decode.py EVENTS_DIR  ->  JSON on stdout:
    {"experiment": {"hparams": {name: type}, "metrics": [tag]},
     "session_start": {name: value}, "session_end": status,
     "last": {scalar tag: last value}}
"""
import glob
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, struct_pb2
from google.protobuf.json_format import MessageToDict

F = descriptor_pb2.FieldDescriptorProto


def message(file, name, fields):
    m = file.message_type.add(name=name)
    for number, field_name, kind, type_name, repeated in fields:
        f = m.field.add(name=field_name, number=number, type=kind,
                        label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
        if type_name:
            f.type_name = type_name
    return m


file = descriptor_pb2.FileDescriptorProto(name="decode_test.proto", package="t", syntax="proto3",
                                          dependency=["google/protobuf/struct.proto"])
message(file, "PluginData", [(1, "plugin_name", F.TYPE_STRING, None, False),
                             (2, "content", F.TYPE_BYTES, None, False)])
message(file, "SummaryMetadata", [(1, "plugin_data", F.TYPE_MESSAGE, ".t.PluginData", False)])
message(file, "Value", [(1, "tag", F.TYPE_STRING, None, False),
                        (2, "simple_value", F.TYPE_FLOAT, None, False),
                        (9, "metadata", F.TYPE_MESSAGE, ".t.SummaryMetadata", False)])
message(file, "Summary", [(1, "value", F.TYPE_MESSAGE, ".t.Value", True)])
message(file, "Event", [(1, "wall_time", F.TYPE_DOUBLE, None, False),
                        (2, "step", F.TYPE_INT64, None, False),
                        (3, "file_version", F.TYPE_STRING, None, False),
                        (5, "summary", F.TYPE_MESSAGE, ".t.Summary", False)])
message(file, "HParamInfo", [(1, "name", F.TYPE_STRING, None, False),
                             (4, "type", F.TYPE_INT32, None, False)])
message(file, "MetricName", [(1, "group", F.TYPE_STRING, None, False),
                             (2, "tag", F.TYPE_STRING, None, False)])
message(file, "MetricInfo", [(1, "name", F.TYPE_MESSAGE, ".t.MetricName", False)])
message(file, "Experiment", [(3, "time_created_secs", F.TYPE_DOUBLE, None, False),
                             (4, "hparam_infos", F.TYPE_MESSAGE, ".t.HParamInfo", True),
                             (5, "metric_infos", F.TYPE_MESSAGE, ".t.MetricInfo", True)])
entry = message(file, "SessionStartInfo", [(1, "hparams", F.TYPE_MESSAGE,
                                            ".t.SessionStartInfo.HparamsEntry", True),
                                           (5, "start_time_secs", F.TYPE_DOUBLE, None, False)])
map_entry = entry.nested_type.add(name="HparamsEntry")
map_entry.options.map_entry = True
map_entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
map_entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".google.protobuf.Value")
message(file, "SessionEndInfo", [(1, "status", F.TYPE_INT32, None, False),
                                 (2, "end_time_secs", F.TYPE_DOUBLE, None, False)])
message(file, "HParamsPluginData", [(1, "version", F.TYPE_INT32, None, False),
                                    (2, "experiment", F.TYPE_MESSAGE, ".t.Experiment", False),
                                    (3, "session_start_info", F.TYPE_MESSAGE,
                                     ".t.SessionStartInfo", False),
                                    (4, "session_end_info", F.TYPE_MESSAGE,
                                     ".t.SessionEndInfo", False)])

pool = descriptor_pool.DescriptorPool()
pool.AddSerializedFile(descriptor_pb2.FileDescriptorProto.FromString(
    struct_pb2.DESCRIPTOR.serialized_pb).SerializeToString())
pool.Add(file)
classes = message_factory.GetMessageClassesForFiles(["decode_test.proto"], pool) \
    if hasattr(message_factory, "GetMessageClassesForFiles") else None
factory = message_factory.MessageFactory(pool)


def cls(name):
    if classes is not None:
        return classes["t." + name]
    return factory.GetPrototype(pool.FindMessageTypeByName("t." + name))


Event, PluginDataMessage = cls("Event"), cls("HParamsPluginData")
TYPES = {1: "string", 2: "bool", 3: "number"}


def records(path):
    data = open(path, "rb").read()
    at = 0
    while at + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[at:at + 8])
        yield data[at + 12:at + 12 + length]
        at += 12 + length + 4


out = {"experiment": None, "session_start": None, "session_end": None, "last": {}}
for path in sorted(glob.glob(sys.argv[1] + "/events.out.tfevents.*")):
    for record in records(path):
        event = Event.FromString(record)
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                data = PluginDataMessage.FromString(value.metadata.plugin_data.content)
                if value.tag == "_hparams_/experiment":
                    out["experiment"] = {
                        "hparams": {i.name: TYPES.get(i.type) for i in data.experiment.hparam_infos},
                        "metrics": [m.name.tag for m in data.experiment.metric_infos]}
                elif value.tag == "_hparams_/session_start_info":
                    out["session_start"] = {k: MessageToDict(v) for k, v in
                                            data.session_start_info.hparams.items()}
                elif value.tag == "_hparams_/session_end_info":
                    out["session_end"] = data.session_end_info.status
            else:
                out["last"][value.tag] = value.simple_value
print(json.dumps(out, sort_keys=True))
