"""reader_fuzzer(): one libFuzzer target per reader of untrusted files.

With the default (gcc) toolchain the target is an ordinary cc_test that runs
its corpus once, so `bazel test //...` keeps every input that ever crashed a
reader fixed. Under `--config=fuzz` (clang-14, see .bazelrc) the same source
links libFuzzer's main instead and becomes the fuzzer itself; fuzz/campaign.sh
builds and runs it.
"""

def reader_fuzzer(name, srcs, deps, corpus, size = "small", **kwargs):
    native.cc_test(
        name = name,
        size = size,
        srcs = srcs,
        deps = deps + ["//fuzz:fuzz_input"] + select({
            "//fuzz:libfuzzer": [],
            "//conditions:default": ["//fuzz:replay_corpus_main"],
        }),
        linkopts = select({
            "//fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        data = native.glob(["corpus/" + corpus + "/*"]),
        args = [native.package_name() + "/corpus/" + corpus],
        **kwargs
    )
