"""Where LibTorch comes from: one environment variable, TORCHTRAIN_LIBTORCH.

Unset (the default): Debian's libtorch-dev (1.13.1, CPU only), headers under
/usr/include (found by the compiler without help; the C++ API's directory is
added by .bazelrc as a system directory, so Bazel copies none of them into
sandboxes) and libraries on the default search path.

Set to the root of another LibTorch (its include/ and lib/, as in LibTorch's
cxx11-ABI zip or a Python torch install's directory), e.g. a CUDA build:
    TORCHTRAIN_LIBTORCH=/opt/libtorch tools/bazel build //...
Its headers are declared to Bazel and come before Debian's, it is linked
with an rpath, and when it has libtorch_cuda.so the CUDA libraries are linked
and TORCHTRAIN_WITH_NCCL is defined (the NCCL process group,
framework/distributed). Bazel re-runs this rule when the variable changes.
"""

_DEBIAN_BUILD = """# Debian's libtorch-dev (see third_party/libtorch.bzl).
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "libtorch",
    linkopts = [
        "-Wl,--no-as-needed",
        "-ltorch",
        "-ltorch_cpu",
        "-lc10",
        "-Wl,--as-needed",
        "-lpthread",
    ],
)
"""

_CUSTOM_BUILD = """# LibTorch from TORCHTRAIN_LIBTORCH={root} (see third_party/libtorch.bzl).
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "libtorch",
    hdrs = glob(["include/**/*.h", "include/**/*.hpp", "include/**/*.cuh", "include/**/*.inc"]),
    includes = ["include", "include/torch/csrc/api/include"],
    defines = {defines},
    linkopts = [
        "-L{root}/lib",
        "-Wl,-rpath,{root}/lib",
        "-Wl,--no-as-needed",
    ] + {libraries} + [
        "-Wl,--as-needed",
        "-lpthread",
    ],
)
"""

def _libtorch_impl(ctx):
    root = ctx.os.environ.get("TORCHTRAIN_LIBTORCH", "").rstrip("/")
    if not root:
        ctx.file("BUILD", _DEBIAN_BUILD)
        return
    for part in ["include", "lib"]:
        if not ctx.path(root + "/" + part).exists:
            fail("TORCHTRAIN_LIBTORCH=%s has no %s/ directory: it must be the root of a LibTorch " % (root, part) +
                 "(the directory holding include/ and lib/)")
    ctx.symlink(root + "/include", "include")
    libraries = ["-ltorch", "-ltorch_cpu", "-lc10"]
    defines = []
    if ctx.path(root + "/lib/libtorch_cuda.so").exists:
        libraries += ["-ltorch_cuda", "-lc10_cuda"]
        defines.append("TORCHTRAIN_WITH_NCCL")
    ctx.file("BUILD", _CUSTOM_BUILD.format(
        root = root,
        defines = repr(defines),
        libraries = repr(libraries),
    ))

libtorch_repository = repository_rule(
    implementation = _libtorch_impl,
    environ = ["TORCHTRAIN_LIBTORCH"],
    local = True,
)
