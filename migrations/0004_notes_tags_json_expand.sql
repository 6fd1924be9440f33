-- Expand: add the new representation and back-fill it from the old one. Code deployed with
-- this migration writes both columns and reads `tags_json`; old code keeps working on `tags`.
ALTER TABLE notes ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
UPDATE notes SET tags_json = CASE
  WHEN tags = '' THEN '[]'
  ELSE '["' || replace(tags, ',', '","') || '"]'
END;
