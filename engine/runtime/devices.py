"""Which device nodes a container may use: docker's default rules, on cgroup v1 and v2.

cgroup v1 has a devices controller: the rules are written to devices.deny and devices.allow.
cgroup v2 has none. There the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE program attached to
the cgroup each time a process in it opens a device node for reading or writing or makes one
with mknod; the program returns 1 to allow, 0 to fail the call with EPERM. Without it, a
container (it has CAP_MKNOD, as docker's do) could make a node for the host's disk or
/dev/mem and read it. runc builds the same program (libcontainer/cgroups/ebpf/devicefilter,
itself from crun's ebpf.c); here it is assembled by hand and loaded with bpf(2) via ctypes,
the engine being stdlib only. The attachment lives as long as the cgroup: removing the
cgroup detaches and frees the program, so there is nothing else to clean up.
"""
import ctypes
import os
import resource
import struct
import sys

from .namespaces import bpf

# docker's defaults: make any node, open only null, zero, full, random, urandom, tty,
# console, ptmx, the ptys (136:*) and tun. Default deny.
RULES = ("c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
         "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm")

# <linux/bpf.h>
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2              # as runc: programs of ancestor cgroups (systemd's) run too
DEV_TYPES = {"b": 1, "c": 2}                      # BPF_DEVCG_DEV_BLOCK, _CHAR
ACCESS = {"m": 1, "r": 2, "w": 4}                 # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# Opcodes (<linux/bpf_common.h>: class | operation | source). "32" means the 32-bit ALU,
# which also zeroes the register's upper half.
LDX_W = 0x61           # BPF_LDX | BPF_MEM | BPF_W:  dst = *(u32 *)(src + off)
AND32_K = 0x54         # BPF_ALU | BPF_AND | BPF_K:  dst &= imm
RSH32_K = 0x74         # BPF_ALU | BPF_RSH | BPF_K:  dst >>= imm
MOV32_X = 0xbc         # BPF_ALU | BPF_MOV | BPF_X:  dst = src
MOV32_K = 0xb4         # BPF_ALU | BPF_MOV | BPF_K:  dst = imm
JNE_K = 0x55           # BPF_JMP | BPF_JNE | BPF_K:  if dst != imm: skip off instructions
JNE_X = 0x5d           # BPF_JMP | BPF_JNE | BPF_X:  if dst != src: skip off instructions
EXIT = 0x95            # BPF_JMP | BPF_EXIT:         return r0
R0, R1, R2, R3, R4, R5 = range(6)


def restrict(cgroup_dir):
    """Let the processes in the (v2) cgroup use the devices RULES allow, and no other."""
    program = _load(assemble(RULES))
    try:
        target = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            # union bpf_attr for BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags
            bpf(BPF_PROG_ATTACH, ctypes.create_string_buffer(struct.pack(
                "=IIII", target, program, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)))
        except OSError as error:
            raise RuntimeError("cannot attach the device filter to %s: %s" % (cgroup_dir, error.strerror))
        finally:
            os.close(target)
    finally:
        os.close(program)          # the attachment holds the program from here on


def assemble(rules):
    """The program's bytes: struct bpf_insn {u8 code; u8 dst:4, src:4; s16 off; s32 imm}, in
    this machine's byte order (the bit fields too: dst is the low nibble on little-endian)."""
    little = sys.byteorder == "little"
    return b"".join(struct.pack("=BBhi", code, src << 4 | dst if little else dst << 4 | src, off, imm)
                    for code, dst, src, off, imm in instructions(rules))


def instructions(rules):
    """[(code, dst, src, off, imm)]: runc's program, block by block.

    The kernel passes r1 = struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor},
    access_type being (access << 16) | type. The prologue spreads it over r2..r5; each rule
    is a block that jumps to the next block on the first field that does not match, and
    otherwise returns 1; after the last block, the program returns 0.
    """
    program = [(LDX_W, R2, R1, 0, 0), (AND32_K, R2, 0, 0, 0xFFFF),     # r2 = type
               (LDX_W, R3, R1, 0, 0), (RSH32_K, R3, 0, 0, 16),         # r3 = access asked
               (LDX_W, R4, R1, 4, 0),                                  # r4 = major
               (LDX_W, R5, R1, 8, 0)]                                  # r5 = minor
    for rule in rules:
        program += _block(*parse(rule))
    return program + [(MOV32_K, R0, 0, 0, 0), (EXIT, 0, 0, 0, 0)]


def parse(rule):
    """"c 1:3 rwm" -> (type, major, minor, access); None for "*", which matches any number."""
    kind, numbers, access = rule.split()
    major, minor = (None if n == "*" else int(n) for n in numbers.split(":"))
    return DEV_TYPES[kind], major, minor, sum(ACCESS[a] for a in access)


def _block(kind, major, minor, access):
    checks = [(JNE_K, R2, 0, kind)]
    if access != sum(ACCESS.values()):
        # Every access asked must be allowed: (asked & allowed) == asked, with r1 free by now.
        checks += [(MOV32_X, R1, R3, 0), (AND32_K, R1, 0, access), (JNE_X, R1, R3, 0)]
    if major is not None:
        checks.append((JNE_K, R4, 0, major))
    if minor is not None:
        checks.append((JNE_K, R5, 0, minor))
    block = checks + [(MOV32_K, R0, 0, 1), (EXIT, 0, 0, 0)]
    # A jump's offset counts the instructions it skips: to the end of this block.
    return [(code, dst, src, len(block) - index - 1 if code in (JNE_K, JNE_X) else 0, imm)
            for index, (code, dst, src, imm) in enumerate(block)]


def _load(code):
    """BPF_PROG_LOAD -> the program's fd; on failure, the verifier's reasons in the error."""
    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(65536)
    # Kernels before 5.11 charge BPF programs to RLIMIT_MEMLOCK: lift it for the load only
    # (runc does too), so that the container, forked from this process later, keeps the usual.
    limits = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY,) * 2)
    except ValueError:             # no CAP_SYS_RESOURCE: the hard limit is as far as it goes
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (limits[1], limits[1]))
    try:
        # The verifier's log (level 1, which the kernel refuses without a buffer, and a
        # buffer without a level) only to explain a failure.
        for log_level, log_size, log_buf in ((0, 0, 0), (1, len(log), ctypes.addressof(log))):
            # union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license,
            # log_level, log_size, log_buf, kern_version, prog_flags, prog_name
            attr = ctypes.create_string_buffer(struct.pack(
                "=IIQQIIQII16s", BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                ctypes.addressof(insns), ctypes.addressof(license), log_level, log_size, log_buf,
                0, 0, b"yard_devices"))
            try:
                return bpf(BPF_PROG_LOAD, attr)
            except OSError as error:
                if log_level:
                    raise RuntimeError("cannot load the device filter: %s\n%s"
                                       % (error.strerror, log.value.decode(errors="replace")))
    finally:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, limits)
