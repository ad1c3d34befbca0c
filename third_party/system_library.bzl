"""A repository rule that wraps a system library found by pkg-config.

It runs `pkg-config --cflags --libs MODULES` on the host and writes a
cc_library carrying those options, so Debian's packages are used as they are.
"""

def _system_library_impl(ctx):
    pc = ctx.which("pkg-config")
    if pc == None:
        fail("pkg-config is not installed (apt-get install pkg-config)")
    libs = ctx.execute([pc, "--libs"] + ctx.attr.modules)
    if libs.return_code != 0:
        fail("pkg-config --libs %s failed: %s" % (" ".join(ctx.attr.modules), libs.stderr))
    cflags = ctx.execute([pc, "--cflags"] + ctx.attr.modules)
    if cflags.return_code != 0:
        fail("pkg-config --cflags %s failed: %s" % (" ".join(ctx.attr.modules), cflags.stderr))
    linkopts = [f for f in libs.stdout.strip().split(" ") if f]
    copts = [f for f in cflags.stdout.strip().split(" ") if f and not f.startswith("-I/usr/include")]
    ctx.file("BUILD.bazel", """
cc_library(
    name = "{name}",
    linkopts = {linkopts},
    copts = {copts},
    visibility = ["//visibility:public"],
)
""".format(name = ctx.attr.name, linkopts = repr(linkopts), copts = repr(copts)))

system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {"modules": attr.string_list(mandatory = True)},
    local = True,
)
