import time

from bihuan.demo.loader import load_demo


def test_t(db):
    t = time.perf_counter()
    load_demo()
    print("load", time.perf_counter() - t)
    t = time.perf_counter()
    print(load_demo())
    print("load2", time.perf_counter() - t)


def test_live(live_db):
    t = time.perf_counter()
    load_demo()
    print("load", time.perf_counter() - t)
