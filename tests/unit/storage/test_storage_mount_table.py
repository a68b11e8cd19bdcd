"""Which USB sticks the terminal sees, from a real mounts-format file and an emulated stick."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from devices.storage.emulated import EmulatedMedia, sample_documents
from devices.storage.mount_table import MountTableMedia, parse_mounts, unescape
from devices.storage.port import MediaError
from terminal.materials.usb_import import list_candidates

# Lines as the kernel writes them: space in a label as \040, a udisks2 mount under
# /run/media/<user>, a systemd-mount under /media, and the system's own filesystems.
MOUNTS = r"""sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/nvme0n1p2 / ext4 rw,relatime 0 0
/dev/nvme0n1p1 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=3274820k,mode=755 0 0
/dev/sdb1 /run/media/kiosk/MY\040FILES vfat ro,nosuid,nodev,noexec,relatime,uid=1000 0 0
/dev/sdc1 /media/usb-sdc1 exfat ro,nosuid,nodev,noexec,relatime 0 0
/dev/sdd1 /media/backup ext4 rw,relatime 0 0
/dev/sde1 /media tmpfs rw 0 0
/dev/sdf1 /mnt/stick vfat ro,noexec 0 0
/dev/sr0 /media/cdrom iso9660 ro,nosuid,nodev,noexec 0 0
garbage line
/dev/loop0 /snap/core/1 squashfs ro,nodev,relatime 0 0
"""


def table(tmp_path: Path, text: str = MOUNTS, **kw) -> MountTableMedia:
    f = tmp_path / "mounts"
    f.write_text(text)
    return MountTableMedia(f, **kw)


def test_sticks_under_the_media_roots_are_found_and_system_disks_are_not(tmp_path):
    media = table(tmp_path)
    assert media.mounts() == [
        Path("/run/media/kiosk/MY FILES"),
        Path("/media/usb-sdc1"),
        Path("/media/backup"),
        Path("/media/cdrom"),
    ]


def test_the_roots_and_filesystems_are_configurable(tmp_path):
    media = table(tmp_path, roots=["/mnt"], fstypes=["vfat"])
    assert media.mounts() == [Path("/mnt/stick")]


def test_a_stick_unmounted_or_covered_by_a_later_mount_is_gone(tmp_path):
    media = table(tmp_path)
    text = MOUNTS.replace(
        "/dev/sdc1 /media/usb-sdc1 exfat ro,nosuid,nodev,noexec,relatime 0 0\n", ""
    )
    (tmp_path / "mounts").write_text(text + "tmpfs /media/cdrom tmpfs rw 0 0\n")
    assert Path("/media/usb-sdc1") not in media.mounts()
    assert Path("/media/cdrom") not in media.mounts()


def test_diagnostics_name_a_stick_mounted_writable_or_executable(tmp_path):
    report = table(tmp_path).diagnostics()
    by_path = {s["path"]: s["missing_options"] for s in report["sticks"]}
    assert by_path["/media/usb-sdc1"] == []
    assert by_path["/media/backup"] == ["ro", "noexec", "nosuid", "nodev"]


def test_an_unreadable_mount_table_is_a_clear_error_for_the_technician(tmp_path):
    media = MountTableMedia(tmp_path / "no-such-mounts")
    with pytest.raises(MediaError, match="no-such-mounts"):
        media.mounts()
    assert "no-such-mounts" in media.diagnostics()["error"]


def test_kernel_escapes_are_decoded():
    assert unescape(r"/media/a\040b\011c\134d") == "/media/a b\tc\\d"
    [entry] = parse_mounts(r"/dev/sdb1 /media/x\040y vfat ro 0 0")
    assert str(entry.path) == "/media/x y" and entry.options == ("ro",)


def test_relative_roots_are_refused():
    with pytest.raises(ValueError, match="absolute"):
        MountTableMedia("/proc/self/mounts", roots=["media"])


def test_the_real_mount_table_of_this_machine_parses(tmp_path):
    # Whatever this machine has mounted, reading it works and keeps only paths below the roots.
    for path in MountTableMedia().mounts():
        assert str(path).startswith(("/media/", "/run/media/"))


def test_an_emulated_stick_appears_when_inserted_and_its_files_vanish_when_removed(tmp_path):
    stick = EmulatedMedia(tmp_path)
    assert stick.mounts() == []
    mount = stick.insert(sample_documents())
    assert stick.mounts() == [mount]
    listed = {c.path: c for c in list_candidates(mount)}
    assert listed["household-register.pdf"].refusal is None
    assert listed["photos/id-card-copy.jpg"].kind == "jpeg"
    assert listed["notes.pdf"].refusal.code == "unsupported_type"
    assert listed["scan-damaged.pdf"].kind == "pdf"  # looks like a PDF; broken when read
    stick.remove()
    assert stick.mounts() == [] and not mount.exists()


def test_an_emulated_stick_in_a_temporary_directory_leaves_nothing_behind():
    stick = EmulatedMedia()
    mount = stick.insert({"a.pdf": b"%PDF-1.4\n"})
    assert (mount / "a.pdf").read_bytes() == b"%PDF-1.4\n"
    stick.remove()
    assert not mount.parent.exists()


def test_the_devices_file_configures_the_media_roots(tmp_path):
    from allhours.devices_config import DevicesConfigError, _removable_media

    (tmp_path / "mounts").write_text(MOUNTS)
    media = _removable_media({"roots": ["/mnt"], "mounts_file": str(tmp_path / "mounts")})
    assert media.mounts() == [Path("/mnt/stick")]
    assert _removable_media({}).roots == (Path("/media"), Path("/run/media"))
    with pytest.raises(DevicesConfigError, match=r"removable_media\.roots"):
        _removable_media({"roots": ["media"]})
    with pytest.raises(DevicesConfigError, match="only roots and mounts_file"):
        _removable_media({"root": "/media"})


def test_the_emulated_terminal_has_a_usb_port():
    from allhours.wiring import EmulatedDevices

    devices = EmulatedDevices()
    assert devices.terminal_devices().removable_media is devices.stick


def test_a_preloaded_stick_is_in_the_port_when_first_asked(tmp_path):
    made = []

    def files():
        made.append(1)
        return {"a.pdf": b"%PDF-1.4\n"}

    stick = EmulatedMedia(tmp_path, preload=files)
    assert made == [] and not stick.inserted  # nothing is generated before it is needed
    [mount] = stick.mounts()
    assert (mount / "a.pdf").exists() and stick.mounts() == [mount] and made == [1]
    stick.remove()
    assert stick.mounts() == []  # pulled out stays out


def test_the_technician_command_names_sticks_mounted_unsafely(tmp_path, capsys):
    from allhours.commands.usb_sticks import run

    f = tmp_path / "mounts"
    f.write_text(MOUNTS)
    args = argparse.Namespace(mounts_file=str(f), root=["/media"])
    assert run(args) == 1
    out = capsys.readouterr().out.splitlines()
    assert "/media/usb-sdc1\texfat\t/dev/sdc1\tsafe" in out
    assert "/media/backup\text4\t/dev/sdd1\tUNSAFE, missing ro,noexec,nosuid,nodev" in out
    f.write_text(MOUNTS.replace("/dev/sdd1 /media/backup ext4 rw,relatime 0 0\n", ""))
    assert run(args) == 0
    assert run(argparse.Namespace(mounts_file=str(tmp_path / "none"), root=None)) == 2


def test_doctor_reports_the_usb_port_beside_the_other_devices(capsys):
    import json

    from allhours.cli import main

    assert main(["doctor", "--json"]) == 0
    sticks = json.loads(capsys.readouterr().out)["usb_sticks"]
    assert sticks["driver"] == "mount-table"
    assert sticks["roots"] == ["/media", "/run/media"]
    assert isinstance(sticks["sticks"], list)
