"""Public tip categories: what parents see, in plain words, mapped to the bureau's violation types.

Open311 service codes are these codes too, so a code never changes once published.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import get_language

from bihuan.leads.models import ViolationType


@dataclass(frozen=True)
class PublicCategory:
    """One plain-language kind of problem a parent can report."""

    code: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    violation_codes: tuple[str, ...]

    @property
    def name(self) -> str:
        """The name in the active language (Chinese unless English is asked for)."""
        return self.name_en if (get_language() or "").startswith("en") else self.name_zh

    @property
    def description(self) -> str:
        """The one-line description in the active language."""
        en = (get_language() or "").startswith("en")
        return self.description_en if en else self.description_zh

    def violation_types(self) -> QuerySet[ViolationType]:
        """The active violation types this category maps to (none for "other")."""
        return ViolationType.objects.filter(code__in=self.violation_codes, is_active=True)


CATEGORIES: tuple[PublicCategory, ...] = (
    PublicCategory(
        "home_class",
        "居民楼、酒店里上课",
        "Classes in a flat or a hotel",
        "在居民楼、酒店、咖啡馆等地方给孩子上语数外等学科课。",
        "Subject lessons held in a flat, a hotel, a café or similar.",
        ("B2",),
    ),
    PublicCategory(
        "housekeeping_tutor",
        "家政、住家教师名义上课",
        "Tutoring disguised as housekeeping",
        "以家政服务、住家教师、高端家政的名义上学科课。",
        "Subject lessons sold as housekeeping or a live-in teacher.",
        ("B3",),
    ),
    PublicCategory(
        "online_class",
        "网上有偿学科课",
        "Paid online subject classes",
        "通过微信群、视频会议、直播等方式收费上学科课。",
        "Paid subject lessons over chat groups, video meetings or live streams.",
        ("B1",),
    ),
    PublicCategory(
        "holiday_class",
        "周末、节假日学科课",
        "Weekend or holiday subject classes",
        "在周末、法定节假日、寒暑假上学科类培训课。",
        "Subject classes on weekends, public holidays or school holidays.",
        ("C1",),
    ),
    PublicCategory(
        "preschool_class",
        "学龄前孩子上学科课",
        "Subject classes for preschoolers",
        "给还没上小学的孩子上拼音、识字、数学等学科课。",
        "Reading, writing or maths classes for children not yet at school.",
        ("C4",),
    ),
    PublicCategory(
        "prepaid_refund",
        "预收费过多、退费难",
        "Prepaid fees or refunds refused",
        "一次收费超过3个月或60课时，或者不给退费、机构跑路。",
        "Fees for more than 3 months or 60 lessons at once, or refunds refused.",
        ("D1", "D7"),
    ),
    PublicCategory(
        "unlicensed",
        "无证办学",
        "Unlicensed institution",
        "没有办学许可证就开班招生。",
        "Teaching and enrolling without a school licence.",
        ("A1",),
    ),
    PublicCategory(
        "false_advertising",
        "虚假宣传",
        "False advertising",
        "夸大效果、虚构教师资质、在校园里打广告。",
        "Exaggerated results, invented teacher credentials, ads inside schools.",
        ("E1",),
    ),
    PublicCategory(
        "safety",
        "安全隐患",
        "Safety hazard",
        "消防通道堵塞、没有灭火器、场地不安全。",
        "Blocked exits, no extinguishers, unsafe premises.",
        ("F1",),
    ),
    PublicCategory(
        "other",
        "其他问题",
        "Something else",
        "其他与校外培训有关的问题。",
        "Any other problem with out-of-school tutoring.",
        (),
    ),
)

_BY_CODE = {c.code: c for c in CATEGORIES}


def category(code: str) -> PublicCategory:
    """The category with this code; KeyError if there is none."""
    return _BY_CODE[code]
