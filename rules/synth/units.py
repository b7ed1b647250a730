"""Submitting units (schools, health stations, insurance offices) with display names and slugs.

Names follow how units really call themselves ("THPT Lê Quý Đôn", "Trường THCS Nguyễn Du",
"Trạm Y tế phường Bến Nghé"); the slug is the unit key of docs/contracts.md §0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.provinces import slugify

PEOPLE = (
    "Lê Quý Đôn",
    "Nguyễn Du",
    "Trần Phú",
    "Lê Lợi",
    "Nguyễn Trãi",
    "Chu Văn An",
    "Nguyễn Bỉnh Khiêm",
    "Trần Hưng Đạo",
    "Lý Thường Kiệt",
    "Quang Trung",
    "Võ Thị Sáu",
    "Nguyễn Thị Minh Khai",
    "Lê Hồng Phong",
    "Phan Bội Châu",
    "Phan Chu Trinh",
    "Hai Bà Trưng",
    "Ngô Quyền",
    "Đinh Tiên Hoàng",
    "Kim Đồng",
    "Lê Văn Tám",
    "Nguyễn Văn Trỗi",
    "Trần Quốc Toản",
    "Nguyễn Khuyến",
    "Lương Thế Vinh",
    "Trưng Vương",
    "Nguyễn Hiền",
    "Tô Hiến Thành",
    "Hùng Vương",
    "Nguyễn Đình Chiểu",
    "Bùi Thị Xuân",
    "Võ Trường Toản",
    "Lê Thánh Tông",
    "Mạc Đĩnh Chi",
    "Nguyễn Huệ",
    "Phạm Ngũ Lão",
    "Yết Kiêu",
    "Đoàn Thị Điểm",
)
KINDERGARTEN = (
    "Hoa Sen",
    "Sơn Ca",
    "Họa Mi",
    "Hoa Hồng",
    "Tuổi Thơ",
    "Măng Non",
    "Bình Minh",
    "Vàng Anh",
    "Hoa Mai",
    "Thỏ Ngọc",
    "Ánh Dương",
    "Sao Mai",
)
WARDS = (
    "Bến Nghé",
    "Tân Định",
    "Đa Kao",
    "Phú Mỹ",
    "An Khánh",
    "Hòa Khánh",
    "Tân Phong",
    "Phước Long",
    "Thảo Điền",
    "Hiệp Phú",
    "Long Bình",
    "Tân Thuận",
    "Bình Trưng",
    "Cát Lái",
    "Linh Xuân",
    "Phú Lâm",
    "An Lạc",
    "Tân Tạo",
    "Xuân Hòa",
    "Vĩnh Hội",
    "Quang Trung",
    "Hàng Bạc",
    "Ngọc Hà",
    "Thanh Xuân",
)

#: School levels: (level key, min age, max age, display templates)
LEVELS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("mn", 3, 5, ("Trường Mầm non {}", "MN {}")),
    ("th", 6, 10, ("Trường Tiểu học {}", "TH {}")),
    ("thcs", 11, 14, ("Trường THCS {}", "THCS {}")),
    ("thpt", 15, 18, ("THPT {}", "Trường THPT {}")),
)


@dataclass(frozen=True)
class Unit:
    name: str  # display name, e.g. "THPT Lê Quý Đôn"
    slug: str  # e.g. "thpt_le_quy_don"
    level: str  # school level key, "" for non-schools


def make_units(sector: str, n: int, rng: np.random.Generator) -> list[Unit]:
    """``n`` distinct units for a sector (schools spread over the four levels)."""
    units: list[Unit] = []
    seen: set[str] = set()
    for i in range(max(n, 1)):
        if sector == "students":
            key, _, _, templates = LEVELS[i % len(LEVELS)]
            pool = KINDERGARTEN if key == "mn" else PEOPLE
            person = pool[int(rng.integers(len(pool)))]
            name = templates[int(rng.integers(len(templates)))].format(person)
            slug = slugify(f"{key} {person}")
        elif sector == "vaccinations":
            ward = WARDS[int(rng.integers(len(WARDS)))]
            kind = ("phường", "xã")[int(rng.random() < 0.3)]
            name = f"Trạm Y tế {kind} {ward}"
            slug = slugify(f"tyt {kind} {ward}")
            key = ""
        else:
            ward = WARDS[int(rng.integers(len(WARDS)))]
            name = (f"Bảo hiểm xã hội cơ sở {ward}", f"BHXH khu vực {ward}")[int(rng.random() < 0.5)]
            slug = slugify(f"bhxh {ward}")
            key = ""
        base, k = slug, 2
        while slug in seen:
            slug, k = f"{base}_{k}", k + 1
        seen.add(slug)
        units.append(Unit(name=name, slug=slug, level=key))
    return units
