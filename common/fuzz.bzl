"""cc_fuzz_target: a libFuzzer target plus a replay test of its seed corpus.

    cc_fuzz_target(name = "config_fuzz", srcs = ["config_fuzz.cc"], deps = [...])

makes
  - `config_fuzz`: tagged manual and fuzz. Built with --config=fuzz
    (clang-14, libFuzzer, ASan; see .bazelrc) it is a libFuzzer binary;
    tools/fuzz builds and runs every such target. Otherwise it replays the
    files and folders given as arguments.
  - `config_fuzz_corpus_test`: a plain test that feeds every file of the seed
    corpus, fuzz_corpus/config_fuzz/, through the target once.

srcs define `extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t)`.
"""

def cc_fuzz_target(name, srcs, deps = []):
    corpus = "fuzz_corpus/" + name
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + select({
            "//common:fuzzing": [],
            "//conditions:default": ["//common:fuzz_replay_main"],
        }),
        linkopts = select({
            "//common:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = ["manual", "fuzz"],
    )
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = srcs,
        args = [native.package_name() + "/" + corpus],
        data = native.glob([corpus + "/**"]),
        deps = deps + ["//common:fuzz_replay_main"],
    )
