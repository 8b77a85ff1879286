-- A first notice says its cause category as `cause` now (shared/notices.py): deliveries planned
-- before, and not yet sent, are read again.
UPDATE deliveries SET facts = (facts - 'reason') || jsonb_build_object('cause', facts -> 'reason')
WHERE template LIKE 'first_notice_%' AND facts ? 'reason';
