"""Commune layers (communes/<slug>/commune.yaml) written for tests and benchmarks."""
from __future__ import annotations

from pathlib import Path

from bot.overlay import overlay_path

ADDRESS = "Trụ sở UBND {name}, số {n} đường Chính"


def layer_text(name: str, n: int, *, fee: str | None = None, extra: str = "", disabled: tuple[str, ...] = ()) -> str:
    """A valid layer for commune `name` (phone 0200 000 <n>), optionally with a fee override and more."""
    lines = [
        "commune:",
        f'  name: "{name}"',
        '  province: "Tỉnh Thử"',
        f'  address: "{ADDRESS.format(name=name, n=n)}"',
        '  hours: "Thứ Hai đến Thứ Sáu, 7 giờ 30 – 17 giờ"',
        f'  phone: "0200 000 {n:03d}"',
        "  tech_team: []",
        "  service_points:",
        f'    - name: "Điểm dịch vụ công {name}"',
        f'      address: "{ADDRESS.format(name=name, n=n)}"',
        f"      latitude: {21 + n / 1000:.4f}",
        "      longitude: 105.8",
    ]
    if fee is not None:
        lines += ["overrides:", "  khai-sinh:", f'    fee: "{fee}"', f'    where: "Bộ phận một cửa {name}"']
    if disabled:
        lines += ["disabled:"] + [f"  - {d}" for d in disabled]
    return "\n".join(lines) + "\n" + extra


def write_layer(communes_dir: Path, slug: str, text: str) -> Path:
    """Write commune `slug`'s layer; the path written."""
    path = overlay_path(communes_dir, slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
