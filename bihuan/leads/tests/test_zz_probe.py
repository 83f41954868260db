import time, cProfile, pstats, collections
from hypothesis import settings, Phase
from hypothesis.stateful import run_state_machine_as_test, invariant, rule
from bihuan.leads.tests import test_stateful as ts
from bihuan.leads.models import Lead, WorkOrder
from bihuan.leads.integrity import loop_problems
from bihuan.leads.workflow import LeadStatus
from django.db import connection
from django.test.utils import CaptureQueriesContext

STATS = collections.Counter()

class Probe(ts.LoopMachine):
    def dispatch(self, actor, lead):
        target = ts._nth(Lead.objects.all(), lead)
        if target.status != LeadStatus.ACCEPTED:
            return
        super().dispatch(actor, lead)

    def the_loop_holds(self):
        problems = [p for p in loop_problems() if not (p.kind == "event_status_mismatch" and p.label.startswith("lead "))]
        assert problems == []

    def the_log_follows_the_allowed_moves(self):
        pass

    def attempt(self, call, **kw):
        ok = super().attempt(call, **kw)
        STATS[(call.__name__, ok)] += 1
        return ok

    def teardown(self):
        for s in Lead.objects.values_list("status", flat=True):
            STATS["lead:" + s] += 1
        for s in WorkOrder.objects.values_list("status", flat=True):
            STATS["order:" + s] += 1
        super().teardown()

Probe.dispatch = rule(actor=ts.actors, lead=ts.picks)(Probe.dispatch)
Probe.the_loop_holds = invariant()(Probe.the_loop_holds)
Probe.the_log_follows_the_allowed_moves = invariant()(Probe.the_log_follows_the_allowed_moves)


def test_probe(demo_city):
    t = time.time()
    prof = cProfile.Profile()
    with CaptureQueriesContext(connection) as q:
        prof.enable()
        run_state_machine_as_test(Probe, settings=settings(ts.SETTINGS, max_examples=5, phases=[Phase.generate]))
        prof.disable()
    print("\nTOOK", time.time() - t, "queries", len(q))
    for k, v in sorted(STATS.items(), key=str): print(k, v)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
