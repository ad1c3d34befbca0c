"""A repository rule that wraps a system library found by pkg-config.

It runs `pkg-config --cflags --libs MODULES` on the host and writes a
cc_library carrying those options, so Debian's packages are used as they are.

What `--cflags` says must reach every target that includes the library's
headers, not only the wrapper: `-D` flags go into `defines` (e.g. spdlog's
`-DSPDLOG_FMT_EXTERNAL`, cpp-httplib's `-DCPPHTTPLIB_OPENSSL_SUPPORT`, which
change the size of its classes), and extra `-I` directories are linked into
the repository and listed in `includes` (Bazel refuses absolute include
paths). Anything else (e.g. `-pthread`) stays in `copts`.

`linkopts` adds libraries that ship no .pc file (e.g. `-lgrpc++_reflection`).
"""

def _system_library_impl(ctx):
    pc = ctx.which("pkg-config")
    if pc == None:
        fail("pkg-config is not installed (apt-get install pkg-config)")
    linkopts = []
    defines = []
    includes = []
    copts = []
    if ctx.attr.modules:
        libs = ctx.execute([pc, "--libs"] + ctx.attr.modules)
        if libs.return_code != 0:
            fail("pkg-config --libs %s failed: %s" % (" ".join(ctx.attr.modules), libs.stderr))
        cflags = ctx.execute([pc, "--cflags"] + ctx.attr.modules)
        if cflags.return_code != 0:
            fail("pkg-config --cflags %s failed: %s" % (" ".join(ctx.attr.modules), cflags.stderr))
        linkopts = [f for f in libs.stdout.strip().split(" ") if f]
        for f in [f for f in cflags.stdout.strip().split(" ") if f]:
            if f.startswith("-D"):
                defines.append(f[2:])
            elif f.startswith("-I"):
                path = f[2:]
                if path in ("/usr/include", "/usr/local/include"):
                    continue  # already searched by the compiler
                link = "include/%d" % len(includes)
                ctx.symlink(path, link)
                includes.append(link)
            else:
                copts.append(f)
    linkopts += ctx.attr.linkopts
    hdrs = " + ".join(['glob(["%s/**"])' % i for i in includes]) or "[]"
    ctx.file("BUILD.bazel", """
cc_library(
    name = "{name}",
    hdrs = {hdrs},
    includes = {includes},
    defines = {defines},
    copts = {copts},
    linkopts = {linkopts},
    visibility = ["//visibility:public"],
)
""".format(
        name = ctx.attr.name,
        hdrs = hdrs,
        includes = repr(includes),
        defines = repr(defines),
        copts = repr(copts),
        linkopts = repr(linkopts),
    ))

system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {
        "modules": attr.string_list(
            doc = "pkg-config modules; may be empty when only linkopts are given",
        ),
        "linkopts": attr.string_list(doc = "extra link options after pkg-config's"),
    },
    local = True,
)
