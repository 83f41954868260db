"""The default on-site checklist (排查表), built from the items used in practice.

Groups A–H follow research/inspection.md §3.7: identity and licences, premises and fire safety,
training conduct (hours, content, signs of disguised subject tutoring), staff, fees and prepaid
funds, advertising, other safety (meals), and the evidence block. Each flag suggests codes of the
violation taxonomy seeded by leads/migrations/0002_seed_taxonomy.py.

``DEFAULT_CHECKLIST`` is the validated definition; the data migration 0002_default_checklist
publishes it as version 1 of template "default". Edit it here only for new installations: a
running system changes its checklist through a new version.
"""

from __future__ import annotations

from typing import Any

from bihuan.screening.checklists import validate_definition

# The codes seeded with the taxonomy; the migration checks them against the database too.
SEEDED_CODES = frozenset(
    [f"A{i}" for i in range(1, 5)]
    + [f"B{i}" for i in range(1, 10)]
    + [f"C{i}" for i in range(1, 6)]
    + [f"D{i}" for i in range(1, 8)]
    + ["E1", "E2", "F1", "F2", "F3", "F4", "G1", "G2", "H1", "H2"]
)

GROUPS = {
    "A": ("资质", "Identity and licences"),
    "B": ("场所与消防", "Premises and fire safety"),
    "C": ("培训行为", "Training conduct"),
    "D": ("从业人员", "Staff"),
    "E": ("收费与资金", "Fees and prepaid funds"),
    "F": ("广告宣传", "Advertising"),
    "G": ("其他安全", "Other safety"),
    "H": ("现场取证", "Evidence"),
}


def _yes_no_na(flag_on: str | None) -> list[dict[str, Any]]:
    return [
        {"name": "yes", "label": "是", "label_en": "Yes", "flag": flag_on == "yes"},
        {"name": "no", "label": "否", "label_en": "No", "flag": flag_on == "no"},
        {"name": "na", "label": "不适用", "label_en": "Not applicable", "flag": False},
    ]


def _q(group: str, name: str, qtype: str, label: str, label_en: str, **extra: Any) -> dict:
    flag_on = extra.pop("flag_on", None)
    question = {
        "name": name,
        "type": qtype,
        "label": label,
        "label_en": label_en,
        "group": group,
        "group_label": GROUPS[group][0],
        "group_label_en": GROUPS[group][1],
        "required": extra.pop("required", qtype not in ("note", "text")),
        **extra,
    }
    if qtype == "yes_no_na":
        question["choices"] = _yes_no_na(flag_on)
    return question


FEES = "${collects_fees} = 'yes'"
SUBJECT = "${subject_training} = 'yes'"
LICENSED = "${has_school_licence} = 'yes'"

QUESTIONS = [
    # A. Identity and licences
    _q("A", "facade_photo", "photo", "机构门头及招牌照片", "Photo of the façade and sign"),
    _q(
        "A",
        "has_school_licence",
        "yes_no_na",
        "持有办学许可证",
        "Holds a school-running licence",
        hint="营利性非学科类机构亦须取得办学许可证",
        hint_en="Non-subject institutions need one too",
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["A1"],
        major=True,
    ),
    _q(
        "A",
        "licence_displayed",
        "yes_no_na",
        "办学许可证在显著位置公示且在有效期内",
        "School licence displayed and valid",
        relevant=LICENSED,
        flag_on="no",
        evidence="photo",
        violation_types=["A2"],
    ),
    _q(
        "A",
        "business_licence",
        "yes_no_na",
        "持有营业执照或民办非企业单位登记证书",
        "Business licence or non-profit registration certificate",
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["A2"],
    ),
    _q(
        "A",
        "address_matches",
        "yes_no_na",
        "实际办学地址、招牌名称与许可证一致",
        "Address and sign match the licence",
        relevant=LICENSED,
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["A3"],
    ),
    _q(
        "A",
        "scope_matches",
        "yes_no_na",
        "培训内容与许可范围（学科类／非学科类）一致",
        "Training matches the licensed scope (subject / non-subject)",
        relevant=LICENSED,
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["A3", "A4"],
        major=True,
    ),
    _q(
        "A",
        "licence_photo",
        "photo",
        "许可证及公示墙照片",
        "Photo of the licence wall",
        relevant=LICENSED,
        required=False,
    ),
    # B. Premises and fire safety
    {
        **_q(
            "B",
            "premises_kind",
            "select_one",
            "办学场所类型",
            "Kind of premises",
            evidence="photo_or_note",
            violation_types=["F2"],
        ),
        "choices": [
            {"name": "commercial", "label": "商业用房", "label_en": "Commercial", "flag": False},
            {
                "name": "residential",
                "label": "居民住宅",
                "label_en": "Residential flat",
                "flag": True,
            },
            {
                "name": "basement",
                "label": "地下室或半地下室",
                "label_en": "Basement or semi-basement",
                "flag": True,
            },
            {
                "name": "industrial",
                "label": "厂房、仓库或临时建筑",
                "label_en": "Industrial or temporary building",
                "flag": True,
            },
            {"name": "other", "label": "其他", "label_en": "Other", "flag": False},
        ],
    },
    _q(
        "B",
        "top_floor",
        "integer",
        "教学用房所在最高楼层",
        "Highest floor used for teaching",
        hint="十四周岁以下学生的教学用房不得设在四层及以上",
        hint_en="Rooms for children under 14 must be below the 4th floor",
        constraint=". >= -3 and . <= 100 and . != 0",
        constraint_message="楼层应在-3到100之间，且不为0",
        constraint_message_en="A floor between -3 and 100, not 0",
        flag_when=". >= 4",
        evidence="note",
        violation_types=["F2"],
    ),
    _q(
        "B",
        "area_m2",
        "decimal",
        "教学及辅助用房面积（平方米）",
        "Teaching and support area (m²)",
        constraint=". > 0 and . <= 100000",
        constraint_message="面积应大于0且不超过100000平方米",
        constraint_message_en="More than 0 and at most 100,000 m²",
    ),
    _q(
        "B",
        "students_present",
        "integer",
        "检查时在场学生人数",
        "Students present during the visit",
        constraint=". >= 0 and . <= 2000",
        constraint_message="人数应在0到2000之间",
        constraint_message_en="Between 0 and 2,000",
    ),
    _q(
        "B",
        "space_per_student",
        "yes_no_na",
        "同时段生均教学面积不低于3平方米",
        "At least 3 m² of teaching space per student present",
        relevant="${students_present} > 0",
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["F2"],
    ),
    _q(
        "B",
        "exits_clear",
        "yes_no_na",
        "疏散通道、安全出口畅通未锁闭，应急照明和疏散指示标志完好",
        "Escape routes and exits open, emergency lights and signs working",
        flag_on="no",
        evidence="photo",
        violation_types=["F1"],
        major=True,
    ),
    _q(
        "B",
        "fire_equipment",
        "yes_no_na",
        "灭火器、烟感报警器等消防设施齐全且在有效期内",
        "Extinguishers and smoke detectors present and in date",
        flag_on="no",
        evidence="photo",
        violation_types=["F1"],
    ),
    _q(
        "B",
        "fire_acceptance",
        "yes_no_na",
        "已通过消防设计审查、验收或备案",
        "Fire design review, acceptance or filing passed",
        relevant="${area_m2} >= 300",
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["F1", "F2"],
    ),
    _q(
        "B",
        "no_mixed_use",
        "yes_no_na",
        "未设员工宿舍、厨房，无易燃可燃装修",
        "No staff dormitory or kitchen, no flammable decoration",
        flag_on="no",
        evidence="photo",
        violation_types=["F1"],
    ),
    _q(
        "B",
        "fire_plan",
        "yes_no_na",
        "有消防预案和演练记录，明确消防安全责任人",
        "Fire plan and drill records, named fire-safety officer",
        flag_on="no",
        evidence="note",
        violation_types=["F1"],
    ),
    # C. Training conduct: hours, content and signs of disguised tutoring
    _q(
        "C",
        "subject_training",
        "yes_no_na",
        "开展学科类培训",
        "Provides subject tutoring",
    ),
    _q(
        "C",
        "holiday_subject",
        "yes_no_na",
        "在法定节假日、休息日或寒暑假开展学科类培训",
        "Subject tutoring on public holidays, weekends or school holidays",
        relevant=SUBJECT,
        flag_on="yes",
        evidence="photo_or_note",
        violation_types=["C1"],
    ),
    _q(
        "C",
        "hours_ok",
        "yes_no_na",
        "线下培训结束时间不晚于20:30",
        "Classes on site end by 20:30",
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["C2"],
    ),
    _q(
        "C",
        "beyond_syllabus",
        "yes_no_na",
        "存在超标超前培训或使用未备案的培训材料",
        "Teaching beyond or ahead of the syllabus, or unfiled materials",
        relevant=SUBJECT,
        flag_on="yes",
        evidence="photo_or_note",
        violation_types=["C3"],
    ),
    _q(
        "C",
        "preschool_subject",
        "yes_no_na",
        "面向学龄前儿童开展学科类培训",
        "Subject tutoring for preschool children",
        flag_on="yes",
        evidence="photo_or_note",
        violation_types=["C4"],
    ),
    _q(
        "C",
        "competitions",
        "yes_no_na",
        "组织社会性竞赛、等级考试或公布成绩排名",
        "Organises competitions or grade exams, or publishes rankings",
        flag_on="yes",
        evidence="photo_or_note",
        violation_types=["C5"],
    ),
    {
        **_q(
            "C",
            "disguised_forms",
            "select_multiple",
            "发现的隐形变异学科类培训迹象",
            "Signs of disguised subject tutoring",
            hint="可多选；未发现请只选“未发现”",
            hint_en="Choose all that apply; choose only “None found” if none",
            constraint="not(selected(., 'none')) or count-selected(.) = 1",
            constraint_message="“未发现”不能与其他选项同时选择",
            constraint_message_en="“None found” cannot be combined with other answers",
            evidence="photo_and_note",
            violation_types=["B1", "B2", "B3", "B4", "B5", "B6", "B7"],
            major=True,
        ),
        "choices": [
            {"name": "none", "label": "未发现", "label_en": "None found", "flag": False},
            {
                "name": "relabelled",
                "label": "以咨询、文化传播、家政、住家教师、众筹私教等名义",
                "label_en": "Under the name of consulting, housekeeping, live-in tutors, "
                "crowd-funded tutors",
                "flag": True,
            },
            {
                "name": "unqualified_staff",
                "label": "无资质人员或在职教师授课",
                "label_en": "Unqualified staff or serving teachers teaching",
                "flag": True,
            },
            {
                "name": "timing",
                "label": "直播变录播等规避时间规定",
                "label_en": "Recorded lessons or other ways round the time rules",
                "flag": True,
            },
            {
                "name": "hidden_place",
                "label": "在居民楼、酒店、咖啡馆等开展一对一、一对多",
                "label_en": "One-to-one or small groups in flats, hotels or cafés",
                "flag": True,
            },
            {
                "name": "disguised_content",
                "label": "以研学、夏令营、思维训练或非学科名义教授学科内容",
                "label_en": "Subject content under study tours, camps, thinking skills or "
                "non-subject courses",
                "flag": True,
            },
            {
                "name": "online",
                "label": "线下机构通过即时通讯、会议、直播开展线上学科培训",
                "label_en": "Online subject classes by IM, meetings or live streams",
                "flag": True,
            },
            {"name": "other", "label": "其他形式", "label_en": "Other", "flag": True},
        ],
    },
    _q(
        "C",
        "disguised_detail",
        "text",
        "隐形变异培训情况说明（地点、时间、人数、收费方式）",
        "What was seen (place, time, number of students, how fees are paid)",
        relevant="count-selected(${disguised_forms}) > 0 and not(selected(${disguised_forms}, "
        "'none'))",
        required=True,
    ),
    # D. Staff
    _q(
        "D",
        "staff_count",
        "integer",
        "从业人员人数",
        "Number of staff",
        constraint=". >= 0 and . <= 1000",
        constraint_message="人数应在0到1000之间",
        constraint_message_en="Between 0 and 1,000",
    ),
    _q(
        "D",
        "teacher_certificates",
        "yes_no_na",
        "学科类教学人员均具备相应教师资格",
        "Subject teachers hold teacher certificates",
        relevant=SUBJECT,
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["B9"],
    ),
    _q(
        "D",
        "staff_posted",
        "yes_no_na",
        "从业人员信息（含教师资格）已公示",
        "Staff details and certificates posted",
        flag_on="no",
        evidence="photo",
        violation_types=["G2"],
    ),
    _q(
        "D",
        "background_checks",
        "yes_no_na",
        "已开展从业人员准入查询（违法犯罪记录）",
        "Pre-hire criminal-record checks done",
        flag_on="no",
        evidence="note",
        violation_types=["G1"],
    ),
    _q(
        "D",
        "serving_teachers",
        "yes_no_na",
        "聘用在职中小学教师",
        "Employs serving school teachers",
        flag_on="yes",
        evidence="note",
        violation_types=["B8"],
        major=True,
    ),
    # E. Fees and prepaid funds
    _q("E", "collects_fees", "yes_no_na", "向学员收取培训费用", "Charges training fees"),
    _q(
        "E",
        "price_posted",
        "yes_no_na",
        "收费项目和标准明码标价",
        "Prices posted",
        relevant=FEES,
        flag_on="no",
        evidence="photo",
        violation_types=["D4"],
    ),
    _q(
        "E",
        "model_contract",
        "yes_no_na",
        "使用培训服务合同示范文本",
        "Uses the model training contract",
        relevant=FEES,
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["D6"],
    ),
    _q(
        "E",
        "prepaid_months",
        "decimal",
        "单次最长预收费期限（月）",
        "Longest prepaid period (months)",
        hint="超过3个月即为违规",
        hint_en="More than 3 months breaks the rules",
        relevant=FEES,
        constraint=". >= 0 and . <= 120",
        constraint_message="应在0到120个月之间",
        constraint_message_en="Between 0 and 120 months",
        flag_when=". > 3",
        evidence="photo_or_note",
        violation_types=["D1"],
    ),
    _q(
        "E",
        "prepaid_hours",
        "integer",
        "单次最多预收课时",
        "Most lessons prepaid at once",
        hint="超过60课时即为违规",
        hint_en="More than 60 lessons breaks the rules",
        relevant=FEES,
        constraint=". >= 0 and . <= 10000",
        constraint_message="应在0到10000课时之间",
        constraint_message_en="Between 0 and 10,000 lessons",
        flag_when=". > 60",
        evidence="photo_or_note",
        violation_types=["D1"],
    ),
    _q(
        "E",
        "supervised_account",
        "yes_no_na",
        "预收费全部进入监管专用账户，无现金或个人账户收费",
        "Prepaid fees go to the supervised account, no cash or personal accounts",
        relevant=FEES,
        flag_on="no",
        evidence="photo_or_note",
        violation_types=["D2"],
        major=True,
    ),
    _q(
        "E",
        "training_loans",
        "yes_no_na",
        "诱导家长使用培训贷",
        "Pushes training loans on parents",
        relevant=FEES,
        flag_on="yes",
        evidence="photo_or_note",
        violation_types=["D5"],
    ),
    # F. Advertising
    _q(
        "F",
        "outdoor_ads",
        "yes_no_na",
        "周边或校门口有违规户外广告、条幅或散发传单",
        "Illegal outdoor ads, banners or flyers nearby or at school gates",
        flag_on="yes",
        evidence="photo",
        violation_types=["E2"],
    ),
    _q(
        "F",
        "misleading_claims",
        "yes_no_na",
        "宣传存在虚假或误导内容（保过、提分承诺、虚构师资）",
        "Misleading claims (guaranteed results, invented credentials)",
        flag_on="yes",
        evidence="photo_or_note",
        violation_types=["E1"],
    ),
    # G. Other safety
    _q("G", "provides_meals", "yes_no_na", "提供餐食或托管服务", "Provides meals or day care"),
    _q(
        "G",
        "food_licence",
        "yes_no_na",
        "持有食品经营许可证，餐食场所卫生良好",
        "Food licence held and kitchen clean",
        relevant="${provides_meals} = 'yes'",
        flag_on="no",
        evidence="photo",
        violation_types=["F4"],
    ),
    # H. Evidence
    _q("H", "location", "location", "检查位置", "Where the visit took place"),
    _q(
        "H",
        "classroom_photo",
        "photo",
        "教室、课程表及价目表照片",
        "Photos of classrooms, timetable and price list",
        required=False,
    ),
    _q("H", "remarks", "text", "其他情况说明", "Other remarks", required=False),
]

RAW_DEFINITION: dict[str, Any] = {
    "title": "校外培训机构现场排查表",
    "title_en": "On-site screening checklist",
    "form_id": "bihuan_default",
    "version": "2026-1",
    "questions": QUESTIONS,
}

DEFAULT_CHECKLIST: dict[str, Any] = validate_definition(RAW_DEFINITION, known_codes=SEEDED_CODES)
