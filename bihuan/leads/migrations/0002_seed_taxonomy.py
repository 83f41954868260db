"""Seed the violation taxonomy (research/inspection.md §5.4), adapted to the nine department kinds.

Assisting bodies that are not among the linked departments (民政, 网信, 住建, 卫健, 工信, 金融监管) are
named in the legal basis text instead. Administrators edit the taxonomy afterwards, with history.
"""

from django.db import migrations

# (code, name, sign days, reply days)
GROUPS = [
    ("A", "资质类", 1, 10),
    ("B", "隐形变异学科类培训", 1, 5),
    ("C", "培训行为", 1, 7),
    ("D", "收费与资金", 1, 10),
    ("E", "广告宣传", 1, 7),
    ("F", "安全", 1, 3),
    ("G", "从业人员", 1, 5),
    ("H", "其他", 1, 10),
]

E, C, M, P = "education", "competent", "market", "public_security"
# (code, name, lead, assisting, severity 1-3, disguised, legal basis)
TYPES = [
    ("A1", "擅自举办校外培训机构（无证办学）", C, [P, M], 3, False,
     "《校外培训行政处罚暂行办法》第十七条；协办另含民政部门"),
    ("A2", "有照无证、证照不全", C, [M], 2, False, "校外培训“双随机、一公开”抽查计划"),
    ("A3", "超范围、超地址、擅设分校、招牌与许可不一致、转让许可证", C, [M], 2, False,
     "校外培训“双随机、一公开”抽查计划"),
    ("A4", "非学科类机构违规开展学科类培训", C, [E], 3, True,
     "“双减”意见；《关于坚决查处变相违规开展学科类校外培训问题的通知》（2021）"),
    ("B1", "转线上：通过即时通讯、会议、直播开展有偿学科类培训", E, [P], 3, True,
     "《校外培训行政处罚暂行办法》第十八条第一项；网信部门协助取证"),
    ("B2", "转地下：在居民楼、酒店、咖啡馆等场所开展一对一、一对多学科类培训", E, [P], 3, True,
     "《校外培训行政处罚暂行办法》第十八条第二项；场所提供者条款"),
    ("B3", "换马甲：以家政服务、住家教师、高端家政名义开展学科类培训", E, [M], 3, True,
     "《校外培训行政处罚暂行办法》第十八条第三项"),
    ("B4", "换马甲：以众筹私教名义开展学科类培训", E, [P], 3, True,
     "《校外培训行政处罚暂行办法》第十八条第三项"),
    ("B5", "换马甲：以研学、游学、冬夏令营名义开展学科类培训", E, ["culture_tourism"], 3, True,
     "《校外培训行政处罚暂行办法》第十八条第三项"),
    ("B6", "换马甲：以托管服务名义开展学科类培训", E, [M], 3, True,
     "《校外培训行政处罚暂行办法》第十八条第三项"),
    ("B7", "换马甲：以咨询、文化传播、素质拓展、思维训练、竞赛、家庭教育指导名义开展学科类培训",
     E, [M], 3, True, "《校外培训行政处罚暂行办法》第十八条第三项"),
    ("B8", "在职中小学教师有偿补课", E, [], 3, False, "《校外培训行政处罚暂行办法》从重情形"),
    ("B9", "不具备教师资格人员开展学科类培训", E, [], 2, False,
     "《关于坚决查处变相违规开展学科类校外培训问题的通知》（2021）"),
    ("C1", "占用法定节假日、休息日、寒暑假开展学科类培训", E, [], 2, False, "“双减”意见"),
    ("C2", "培训时间违规（线下晚于20:30、线上晚于21:00）", C, [], 1, False,
     "“双减”意见；2022年十三部门意见"),
    ("C3", "超标超前培训、培训材料未备案或违规", C, [], 2, False, "“双减”意见；校外培训材料管理办法"),
    ("C4", "面向学龄前儿童开展学科类培训", E, [], 3, False, "“双减”意见"),
    ("C5", "组织社会性竞赛、等级考试、公布成绩排名", E, [C], 2, False,
     "《校外培训行政处罚暂行办法》"),
    ("D1", "超期限收费（超过3个月或60课时，非学科类超过5000元）", C, [M, "development_reform"], 3,
     False, "2022年预收费监管公告；2022年十三部门意见"),
    ("D2", "预收费未纳入监管、未进专用账户、个人账户或现金收费", C, ["central_bank"], 3, False,
     "教监管函〔2021〕2号；协办另含金融监管部门"),
    ("D3", "未执行政府指导价", "development_reform", [E, M], 2, False, "校外培训政府指导价规定"),
    ("D4", "未明码标价、价格欺诈、虚构原价、虚假折扣", M, ["development_reform"], 2, False,
     "2022年预收费监管公告"),
    ("D5", "培训贷", C, ["central_bank"], 3, False, "2022年预收费监管公告；2022年十三部门意见"),
    ("D6", "未使用示范合同、格式条款侵权", M, [C], 1, False, "地方校外培训合同示范文本规定"),
    ("D7", "退费难、卷款跑路、停业", C, [M, P, "central_bank"], 3, False,
     "《校外培训行政处罚暂行办法》；行刑衔接"),
    ("E1", "违规发布校外培训广告、虚假宣传、虚构教师资质、校园内变相广告", M, [E], 2, False,
     "“双减”意见（广告管控）"),
    ("E2", "违规户外广告、店招、条幅、在校门口散发传单", "urban_management", [E], 1, False,
     "城市市容管理规定"),
    ("F1", "消防安全隐患（疏散通道、消防设施、装修、演练）", "fire_rescue", [C], 3, False,
     "校外培训机构消防安全九项规定"),
    ("F2", "场所设置违规（居民楼、地下室、低龄儿童在高楼层、未经竣工或消防验收）", C,
     ["fire_rescue"], 3, False, "校外培训机构消防安全九项规定；协办另含住建部门"),
    ("F3", "治安、突发事件、涉稳问题", P, [E], 3, False, "“双减”意见（公安部门职责）"),
    ("F4", "食品安全（托管供餐）", M, [], 3, False, "食品安全法；协办另含卫健部门"),
    ("G1", "未按要求开展从业人员准入查询、聘用有违法犯罪记录人员", C, [P], 3, False,
     "教监管厅函〔2023〕9号"),
    ("G2", "教师资格、从业人员信息未公示", C, [], 1, False, "校外培训机构从业人员管理办法"),
    ("H1", "线上培训平台未备案或违规", E, [], 2, False, "“双减”意见；协办另含网信、工信部门"),
    ("H2", "为违法培训提供场所（酒店、房东、物业）", E, [P, M], 2, False,
     "《校外培训行政处罚暂行办法》场所提供者条款"),
]


def seed(apps, schema_editor):
    Group = apps.get_model("leads", "ViolationGroup")
    Type = apps.get_model("leads", "ViolationType")
    groups = {}
    for code, name, sign, reply in GROUPS:
        groups[code], _ = Group.objects.get_or_create(
            code=code, defaults={"name": name, "sign_days": sign, "reply_days": reply}
        )
    for code, name, lead, assisting, severity, disguised, basis in TYPES:
        Type.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "group": groups[code[0]],
                "lead_kind": lead,
                "assisting_kinds": assisting,
                "severity": severity,
                "is_disguised": disguised,
                "legal_basis": basis,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
