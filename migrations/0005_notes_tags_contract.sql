-- Contract: once no deployed code reads or writes `tags`, drop it.
ALTER TABLE notes DROP COLUMN tags;
