"""What this host can execute: its native platforms, and the QEMU handlers registered in
binfmt_misc (read from a directory that tests point at a fake tree). Reads files only;
the commands that fix a problem are formed in ops/doctor.py."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from manifestor.model.platform import Platform, platforms_match

DEFAULT_BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
# Lists the CPUs that can run 32-bit ARM code, on arm64 kernels where only some can.
AARCH32_CPUS_FILE = Path("/sys/devices/system/cpu/aarch32_el0")


def _linux(*names: str) -> tuple[Platform, ...]:
    out = []
    for name in names:
        arch, _, variant = name.partition("/")
        out.append(Platform("linux", arch, variant or None))
    return tuple(out)


# The handler names Debian's qemu-user-static (and tonistiigi/binfmt) register, and the
# platforms each one runs. qemu-arm runs every 32-bit little-endian ARM level.
HANDLER_PLATFORMS: Mapping[str, tuple[Platform, ...]] = MappingProxyType(
    {
        "qemu-aarch64": _linux("arm64/v8"),
        "qemu-arm": _linux("arm/v7", "arm/v6", "arm/v5"),
        "qemu-x86_64": _linux("amd64"),
        "qemu-i386": _linux("386"),
        "qemu-riscv64": _linux("riscv64"),
        "qemu-ppc64le": _linux("ppc64le"),
        "qemu-ppc64": _linux("ppc64"),
        "qemu-s390x": _linux("s390x"),
        "qemu-mips64el": _linux("mips64le"),
        "qemu-mips64": _linux("mips64"),
        "qemu-mipsel": _linux("mipsle"),
        "qemu-mips": _linux("mips"),
        "qemu-loongarch64": _linux("loong64"),
    }
)

# `uname -m` → what the kernel runs without emulation. 32-bit ARM on an arm64 host is
# decided by `native_platforms` (not every arm64 CPU has AArch32).
_MACHINE_PLATFORMS: Mapping[str, tuple[Platform, ...]] = MappingProxyType(
    {
        "x86_64": _linux("amd64", "386"),
        "amd64": _linux("amd64", "386"),
        "i686": _linux("386"),
        "i386": _linux("386"),
        "aarch64": _linux("arm64/v8"),
        "arm64": _linux("arm64/v8"),
        "armv7l": _linux("arm/v7", "arm/v6", "arm/v5"),
        "armv6l": _linux("arm/v6", "arm/v5"),
        "riscv64": _linux("riscv64"),
        "ppc64le": _linux("ppc64le"),
        "ppc64": _linux("ppc64"),
        "s390x": _linux("s390x"),
        "loongarch64": _linux("loong64"),
        "mips64": _linux("mips64"),
    }
)
_AARCH32 = _linux("arm/v7", "arm/v6", "arm/v5")


@dataclass(frozen=True)
class Handler:
    """One registered binfmt_misc entry, as its file under the binfmt_misc root reads."""

    name: str
    enabled: bool
    interpreter: str
    interpreter_exists: bool
    flags: str
    offset: int = 0
    magic: str = ""
    mask: str = ""

    @property
    def fix_binary(self) -> bool:
        """F: the kernel opened the interpreter at registration, so it also works inside
        a chroot or container where that path does not exist (builds need this)."""
        return "F" in self.flags

    @property
    def platforms(self) -> tuple[Platform, ...]:
        return HANDLER_PLATFORMS.get(self.name, ())

    @property
    def runs(self) -> bool:
        """The kernel can start binaries through it right now (outside a chroot)."""
        return self.enabled and (self.interpreter_exists or self.fix_binary)


@dataclass(frozen=True)
class BinfmtState:
    """binfmt_misc as read at one moment: mounted or not, globally enabled, handlers."""

    root: Path
    mounted: bool
    enabled: bool
    handlers: tuple[Handler, ...] = ()

    def handler_for(self, platform: Platform) -> Handler | None:
        """The registered handler that runs `platform`, if any (enabled ones first)."""
        found = [h for h in self.handlers if any(platforms_match(p, platform) for p in h.platforms)]
        found.sort(key=lambda h: not h.runs)
        return found[0] if found else None


def handler_name_for(platform: Platform) -> str | None:
    """The qemu handler name that would run `platform` (qemu-aarch64 for linux/arm64)."""
    for name, platforms in HANDLER_PLATFORMS.items():
        if any(platforms_match(p, platform) for p in platforms):
            return name
    return None


def read_binfmt(root: str | os.PathLike[str] = DEFAULT_BINFMT_DIR) -> BinfmtState:
    """Read binfmt_misc under `root`. Not mounted: the directory lacks `status` (the kernel
    provides it, with `register`, once the filesystem is mounted)."""
    base = Path(root)
    status = _read_text(base / "status")
    if status is None:
        return BinfmtState(base, mounted=False, enabled=False)
    handlers = []
    for entry in sorted(base.iterdir()):
        if entry.name in ("status", "register") or not entry.is_file():
            continue
        text = _read_text(entry)
        if text is not None:
            handlers.append(parse_handler(entry.name, text))
    return BinfmtState(base, True, status.strip() == "enabled", tuple(handlers))


def parse_handler(name: str, text: str) -> Handler:
    """A handler file: `enabled`, `interpreter PATH`, `flags: PF`, `offset 0`, `magic HEX`,
    `mask HEX` (extension handlers say `extension .EXT` instead of magic)."""
    enabled = False
    interpreter = ""
    flags = ""
    offset = 0
    magic = mask = ""
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key in ("enabled", "disabled"):
            enabled = key == "enabled"
        elif key == "interpreter":
            interpreter = value.strip()
        elif key == "flags:":
            flags = value.strip()
        elif key == "offset" and value.strip().isdigit():
            offset = int(value.strip())
        elif key == "magic":
            magic = value.strip()
        elif key == "mask":
            mask = value.strip()
    exists = bool(interpreter) and os.path.exists(interpreter)
    return Handler(name, enabled, interpreter, exists, flags, offset, magic, mask)


def native_platforms(
    machine: str | None = None, aarch32_cpus_file: Path = AARCH32_CPUS_FILE
) -> tuple[Platform, ...]:
    """What this host runs without emulation: an x86_64 host also runs 386; an arm64 host
    runs 32-bit ARM when the kernel lists CPUs that can (aarch32_el0), else it needs the
    qemu-arm handler like any other foreign platform."""
    machine = (machine or os.uname().machine).lower()
    platforms = _MACHINE_PLATFORMS.get(machine)
    if platforms is None:
        return ()
    if machine in ("aarch64", "arm64") and (_read_text(aarch32_cpus_file) or "").strip():
        platforms += _AARCH32
    return platforms


def is_native(platform: Platform, natives: tuple[Platform, ...]) -> bool:
    return any(platforms_match(platform, native) for native in natives)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
