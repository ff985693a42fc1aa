"""`exported_dataset`: a registered data set written to disk by //tools:export_dataset at build time."""

def _exported_dataset_impl(ctx):
    out = ctx.actions.declare_directory(ctx.attr.name)
    ctx.actions.run(
        executable = ctx.executable._export,
        arguments = ["--out=" + out.path, "--format=" + ctx.attr.format] + ctx.attr.args,
        outputs = [out],
        mnemonic = "ExportDataset",
        progress_message = "Exporting %s as %s" % (ctx.attr.dataset, ctx.attr.format),
        env = {"GLOG_minloglevel": "1"},
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

exported_dataset = rule(
    implementation = _exported_dataset_impl,
    doc = "A directory holding `dataset` in `format` (image_folder or tar_shards).",
    attrs = {
        "dataset": attr.string(default = "fashion_mnist"),
        "format": attr.string(default = "image_folder", values = ["image_folder", "tar_shards"]),
        "args": attr.string_list(doc = "More export_dataset flags, e.g. --shard_size=10000."),
        "_export": attr.label(
            default = "//tools:export_dataset",
            executable = True,
            # The target configuration: built once with the rest (the exec
            # configuration would compile LibTorch's users a second time).
            cfg = "target",
        ),
    },
)
