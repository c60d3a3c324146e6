import time, cProfile, pstats
from tests.integration.guides_support import *
from tests.fixtures import run_jobs

def test_measure(http, tenant):
    from chalicelib.core.tenancy import TenantContext, READ, WRITE
    from chalicelib.members import service as ms
    from chalicelib.members.schemas import MemberCreate
    store = make_store(http, tenant)
    a = make_guide(http, tenant, store, "Ann")
    ctx = TenantContext(tenant.id, "api_key", "k", frozenset({READ, WRITE}))
    t = time.perf_counter()
    for i in range(10):
        ms.upsert_member(ctx, MemberCreate(phone=f"1390000{i:04d}"))
    print("create 10 plain", time.perf_counter() - t)
    t = time.perf_counter()
    pr = cProfile.Profile(); pr.enable()
    for i in range(10):
        ms.upsert_member(ctx, MemberCreate(phone=f"1380000{i:04d}", source={"channel": a.code}))
    pr.disable()
    print("create 10 bound", time.perf_counter() - t)
    pstats.Stats(pr).sort_stats("cumulative").print_stats(35)
