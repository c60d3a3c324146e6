"""Guides: stores, their staff (guides), the members each serves, the tasks that come to
them, and their board.

``routes`` is the HTTP layer; ``service`` stores, guides and who the caller is (a guide-role
console user acts as their guide); ``ownership`` member ownership, sign-up binding and the
leave job; ``tasks`` tasks (by hand, from journeys, expiry) and ``bulk`` tasks for a
segment; ``board`` the order receiver and the board; ``counting`` counter names; ``store``
the items. Public to other capabilities: ``service`` and ``schemas``.
"""
