import time
from bihuan.demo.loader import load_demo

def test_timing(db):
    t = time.perf_counter()
    load_demo()
    print("load", time.perf_counter() - t)
