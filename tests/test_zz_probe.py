import time
def test_b(live_db, page):
    for i in range(3):
        t=time.perf_counter(); page.goto("/login/"); print("goto", time.perf_counter()-t)
    t=time.perf_counter(); page.goto("/healthz"); print("healthz", time.perf_counter()-t)
    t=time.perf_counter(); page.goto("/static/css/bihuan.css"); print("css", time.perf_counter()-t)
