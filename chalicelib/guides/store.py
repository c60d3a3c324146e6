"""Items of the guides capability: stores, guides (and a console user's link to its guide),
member ownership with its history, tasks, and the claims that make redelivered work count
once. Key formats live in ``core.table.keys``; this module only reads and writes."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist

from ..core.table import keys
from ..core.table.model import TableItem
from ..core.table.transactions import Transaction


class StoreItem(TableItem, discriminator="guide_store"):
    store_id = UnicodeAttribute()
    name = UnicodeAttribute()
    region = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class GuideSettingsItem(TableItem, discriminator="guide_settings"):
    #: the store whose pool gets the tasks of members without a guide
    pool_store_id = UnicodeAttribute(null=True)


class GuideItem(TableItem, discriminator="guide"):
    guide_id = UnicodeAttribute()
    display_name = UnicodeAttribute()
    store_id = UnicodeAttribute()
    status = UnicodeAttribute()  # active | left
    external_staff_id = UnicodeAttribute(null=True)
    user_sub = UnicodeAttribute(null=True)
    channel_code = UnicodeAttribute()
    created_at = UnicodeAttribute()
    left_at = UnicodeAttribute(null=True)
    leave_job_id = UnicodeAttribute(null=True)
    version = VersionAttribute()


class GuideUserItem(TableItem, discriminator="guide_user"):
    guide_id = UnicodeAttribute()


class OwnerItem(TableItem, discriminator="guide_owner"):
    """The member's one guide (sk ``GUIDE``): optimistic version, listed under the guide."""

    member_id = UnicodeAttribute()
    guide_id = UnicodeAttribute(null=True)
    store_id = UnicodeAttribute(null=True)
    since = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    version = VersionAttribute()


class HistoryItem(TableItem, discriminator="guide_history"):
    entry_id = UnicodeAttribute()
    from_guide_id = UnicodeAttribute(null=True)
    to_guide_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    at = UnicodeAttribute()
    by = UnicodeAttribute()


class TaskItem(TableItem, discriminator="guide_task"):
    task_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    guide_id = UnicodeAttribute(null=True)
    store_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute(null=True)
    due_date = UnicodeAttribute()
    due_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    cause = JSONAttribute(default=dict)
    status = UnicodeAttribute()  # open | done | expired | cancelled
    outcome = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    closed_at = UnicodeAttribute(null=True)
    version = VersionAttribute()


class MarkerItem(TableItem, discriminator="guide_marker"):
    """Open-task pointers, task claims and order claims in the member's collection."""

    ref = UnicodeAttribute(null=True)


class TaskDoneItem(TableItem, discriminator="guide_task_done"):
    """The member's latest done task: orders within the window count as task revenue."""

    guide_id = UnicodeAttribute()
    store_id = UnicodeAttribute()
    at = UnicodeAttribute()


def _get(model: type[TableItem], pk: str, sk: str) -> TableItem | None:
    try:
        return model.get(pk, sk, consistent_read=True)
    except DoesNotExist:
        return None


# --- stores and guides -------------------------------------------------------------------------
def get_store(tenant_id: str, store_id: str) -> StoreItem | None:
    item = _get(StoreItem, keys.stores(tenant_id), keys.store_sk(store_id))
    return item if isinstance(item, StoreItem) else None


def get_stores(tenant_id: str, store_ids: list[str]) -> dict[str, StoreItem]:
    if not store_ids:
        return {}
    pairs = [(keys.stores(tenant_id), keys.store_sk(s)) for s in dict.fromkeys(store_ids)]
    return {s.store_id: s for s in StoreItem.batch_get(pairs) if isinstance(s, StoreItem)}


def list_stores(tenant_id: str) -> list[StoreItem]:
    return [s for s in StoreItem.query(keys.stores(tenant_id), StoreItem.sk.startswith("STORE#"))
            if isinstance(s, StoreItem)]


def get_settings(tenant_id: str) -> GuideSettingsItem:
    item = _get(GuideSettingsItem, keys.stores(tenant_id), keys.GUIDE_SETTINGS_SK)
    return item if isinstance(item, GuideSettingsItem) else GuideSettingsItem(
        keys.stores(tenant_id), keys.GUIDE_SETTINGS_SK)


def get_guide(tenant_id: str, guide_id: str) -> GuideItem | None:
    item = _get(GuideItem, keys.guides(tenant_id), keys.guide_sk(guide_id))
    return item if isinstance(item, GuideItem) else None


def get_guides(tenant_id: str, guide_ids: list[str]) -> dict[str, GuideItem]:
    if not guide_ids:
        return {}
    pairs = [(keys.guides(tenant_id), keys.guide_sk(g)) for g in dict.fromkeys(guide_ids)]
    return {g.guide_id: g for g in GuideItem.batch_get(pairs) if isinstance(g, GuideItem)}


def list_guides(tenant_id: str, store_id: str | None) -> list[GuideItem]:
    if store_id:
        return [g for g in TableItem.gsi1.query(keys.guides_of_store(tenant_id, store_id)) if isinstance(g, GuideItem)]
    return list(GuideItem.query(keys.guides(tenant_id), GuideItem.sk.startswith("GUIDE#")))


def guide_of_user(tenant_id: str, subject: str) -> str | None:
    item = _get(GuideUserItem, keys.guide_user(tenant_id, subject), "GUIDE_USER")
    return item.guide_id if isinstance(item, GuideUserItem) else None


def stage_guide_user(tx: Transaction, tenant_id: str, subject: str, guide_id: str) -> None:
    tx.save("user", GuideUserItem(keys.guide_user(tenant_id, subject), "GUIDE_USER", guide_id=guide_id),
            condition=GuideUserItem.pk.does_not_exist())


# --- ownership -------------------------------------------------------------------------------------
def get_owner(tenant_id: str, member_id: str) -> OwnerItem | None:
    item = _get(OwnerItem, keys.member(tenant_id, member_id), keys.GUIDE_OWNER_SK)
    return item if isinstance(item, OwnerItem) else None


def get_owners(tenant_id: str, member_ids: list[str]) -> dict[str, OwnerItem]:
    if not member_ids:
        return {}
    pairs = [(keys.member(tenant_id, m), keys.GUIDE_OWNER_SK) for m in dict.fromkeys(member_ids)]
    return {o.member_id: o for o in OwnerItem.batch_get(pairs, consistent_read=True) if isinstance(o, OwnerItem)}


def history(tenant_id: str, member_id: str, limit: int = 100) -> list[HistoryItem]:
    rows = HistoryItem.query(keys.member(tenant_id, member_id), HistoryItem.sk.startswith(keys.GUIDE_HISTORY_PREFIX),
                             scan_index_forward=False, limit=limit, consistent_read=True)
    return [h for h in rows if isinstance(h, HistoryItem)]


def members_page(tenant_id: str, guide_id: str, below: str | None, limit: int,
                 newest_first: bool = True) -> tuple[list[OwnerItem], bool]:
    """Owners listed under a guide (GSI1), newest first below ``below``; and whether more follow."""
    condition = TableItem.gsi1sk < below if below else None
    rows = [r for r in TableItem.gsi1.query(keys.guide_members(tenant_id, guide_id), condition,
                                            scan_index_forward=not newest_first, limit=limit + 1,
                                            page_size=limit + 1)
            if isinstance(r, OwnerItem)]
    return rows[:limit], len(rows) > limit


# --- tasks ------------------------------------------------------------------------------------------
def get_task(tenant_id: str, task_id: str) -> TaskItem | None:
    item = _get(TaskItem, keys.task(tenant_id, task_id), keys.TASK_SK)
    return item if isinstance(item, TaskItem) else None


def get_tasks(tenant_id: str, task_ids: list[str]) -> list[TaskItem]:
    if not task_ids:
        return []
    pairs = [(keys.task(tenant_id, t), keys.TASK_SK) for t in dict.fromkeys(task_ids)]
    return [t for t in TaskItem.batch_get(pairs, consistent_read=True) if isinstance(t, TaskItem)]


def tasks_of_day(tenant_id: str, owner: str, day: str, limit: int) -> list[TaskItem]:
    rows = TableItem.gsi1.query(keys.tasks_of_day(tenant_id, owner, day), limit=limit, page_size=limit)
    return [t for t in rows if isinstance(t, TaskItem)]


def open_task_ids(tenant_id: str, member_id: str) -> list[str]:
    rows = MarkerItem.query(keys.member(tenant_id, member_id), MarkerItem.sk.startswith(keys.OPEN_TASK_PREFIX),
                            consistent_read=True)
    return [r.sk.split("#", 1)[1] for r in rows]


def guide_state(tenant_id: str, member_id: str) -> tuple[OwnerItem | None, TaskDoneItem | None, list[str]]:
    """(owner, latest done task, open task ids) of a member, with one Query (what an order needs)."""
    owner, done, open_ids = None, None, []
    for row in TableItem.query(keys.member(tenant_id, member_id), TableItem.sk.startswith(keys.GUIDE_STATE_PREFIX),
                               consistent_read=True):
        if isinstance(row, OwnerItem):
            owner = row
        elif isinstance(row, TaskDoneItem):
            done = row
        elif row.sk.startswith(keys.OPEN_TASK_PREFIX):
            open_ids.append(row.sk[len(keys.OPEN_TASK_PREFIX):])
    return owner, done, open_ids


def task_ref_ids(tenant_id: str, member_id: str) -> list[str]:
    rows = MarkerItem.query(keys.member(tenant_id, member_id), MarkerItem.sk.startswith("TASKREF#"),
                            consistent_read=True)
    return [r.sk.split("#", 1)[1] for r in rows]


def delete_tasks(tenant_id: str, task_ids: list[str]) -> None:
    with TaskItem.batch_write() as batch:
        for task_id in task_ids:
            batch.delete(TaskItem(keys.task(tenant_id, task_id), keys.TASK_SK))


def expiring(tenant_id: str, shard: int, until: str, limit: int) -> list[TaskItem]:
    rows = TableItem.gsi2.query(keys.tasks_expiring(tenant_id, shard), TableItem.gsi2sk <= until,
                                limit=limit, page_size=limit)
    return [t for t in rows if isinstance(t, TaskItem)]


def get_task_done(tenant_id: str, member_id: str) -> TaskDoneItem | None:
    item = _get(TaskDoneItem, keys.member(tenant_id, member_id), keys.GUIDE_TASK_DONE_SK)
    return item if isinstance(item, TaskDoneItem) else None


def marker(tenant_id: str, member_id: str, sk: str, ref: str | None = None) -> MarkerItem:
    return MarkerItem(keys.member(tenant_id, member_id), sk, ref=ref)
