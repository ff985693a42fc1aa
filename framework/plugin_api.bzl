"""`headers_only`: the compile-time half of C++ libraries.

A plugin shared object compiles against the framework's headers but must not
link a copy of the framework: its calls resolve to the binary that loads it.
"""

def _headers_only_impl(ctx):
    return [cc_common.merge_cc_infos(cc_infos = [
        CcInfo(compilation_context = dep[CcInfo].compilation_context)
        for dep in ctx.attr.deps
    ])]

headers_only = rule(
    implementation = _headers_only_impl,
    attrs = {"deps": attr.label_list(providers = [CcInfo])},
    doc = "The headers (and include paths, defines) of `deps`, without their code.",
)
