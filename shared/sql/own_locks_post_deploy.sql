-- The end of a rollout from a release that took advisory locks (075e135 and before): its replicas
-- are gone, so this release stops taking, beside its own row locks (locks.sql), the advisory
-- locks that kept it in step with them. Nothing to change in the schema: that this ran is the mark.
SELECT 1;
