from bihuan.registry.demo import load_demo_registry, plan_registry
from bihuan.registry.merge import registry_dedupe
from bihuan.registry.models import Institution, MatchCandidate
from bihuan.territory.models import Region


def test_x(demo_city):
    load_demo_registry()
    c = registry_dedupe(actor=None, within=Region.objects.get(code="420900"))
    print(c)
    for i in Institution.objects.filter(merged_into__isnull=False).select_related("merged_into"):
        print("MERGED", i.name, "->", i.merged_into.name)
    for m in MatchCandidate.objects.select_related("institution", "candidate"):
        print("QUEUE", m.institution.name, "|", m.candidate.name, m.score, m.reasons)
    dups = [s for s in plan_registry() if s.duplicate_of]
    for s in dups:
        print("DUP", s.name, "<-", s.duplicate_of)
