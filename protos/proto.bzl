"""cc_grpc_proto: protoc + grpc_cpp_plugin from the system, as a genrule."""

def cc_grpc_proto(name, srcs, deps = [], services = True):
    """Generates and compiles the C++ code of one .proto file.

    Args:
      name: the library's name; the .proto is srcs[0].
      srcs: a single .proto file.
      deps: cc_grpc_proto libraries it imports.
      services: whether the file declares services (adds *.grpc.pb.*).
    """
    base = srcs[0][:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    cmd = "protoc -I$$(dirname $(location %s)) --cpp_out=$(@D) " % srcs[0]
    if services:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
        cmd += "--grpc_out=$(@D) --plugin=protoc-gen-grpc=$$(which grpc_cpp_plugin) "
    cmd += "$(location %s)" % srcs[0]
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_proto_srcs" for d in deps],
        outs = outs,
        cmd = cmd,
    )
    native.filegroup(name = name + "_proto_srcs", srcs = srcs)
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + ["@grpc"],
    )
