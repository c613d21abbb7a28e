"""PostgreSQL holds the clinical immutability rules, not only the services.

* A completed consultation (``completed_at`` set) refuses every UPDATE; no consultation
  or addendum is ever deleted, and an addendum is never changed.
* A prescription is never deleted and never edited; the one UPDATE allowed is its
  cancellation (active → cancelled) leaving every clinical column as it was.

TRUNCATE is left alone on purpose (test databases are flushed with it). The SQLite demo
relies on the services' checks alone.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION clinical_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'clinical record is immutable: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE OR REPLACE FUNCTION consultation_refuse_completed_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.completed_at IS NOT NULL THEN
        RAISE EXCEPTION 'consultation % is completed and immutable', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION prescription_only_cancel() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'active' AND NEW.status = 'cancelled'
       AND (NEW.consultation_id, NEW.prescriber_id, NEW.medication, NEW.dose, NEW.route,
            NEW.frequency, NEW.duration, NEW.quantity, NEW.refills, NEW.instructions,
            NEW.issued_at)
           IS NOT DISTINCT FROM
           (OLD.consultation_id, OLD.prescriber_id, OLD.medication, OLD.dose, OLD.route,
            OLD.frequency, OLD.duration, OLD.quantity, OLD.refills, OLD.instructions,
            OLD.issued_at)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'prescription % is immutable; cancel it instead', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER consultations_consultation_completed_immutable
    BEFORE UPDATE ON consultations_consultation
    FOR EACH ROW EXECUTE FUNCTION consultation_refuse_completed_change();
CREATE TRIGGER consultations_consultation_no_delete
    BEFORE DELETE ON consultations_consultation
    FOR EACH ROW EXECUTE FUNCTION clinical_refuse_change();
CREATE TRIGGER consultations_consultationaddendum_append_only
    BEFORE UPDATE OR DELETE ON consultations_consultationaddendum
    FOR EACH ROW EXECUTE FUNCTION clinical_refuse_change();
CREATE TRIGGER consultations_prescription_only_cancel
    BEFORE UPDATE ON consultations_prescription
    FOR EACH ROW EXECUTE FUNCTION prescription_only_cancel();
CREATE TRIGGER consultations_prescription_no_delete
    BEFORE DELETE ON consultations_prescription
    FOR EACH ROW EXECUTE FUNCTION clinical_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS consultations_consultation_completed_immutable
    ON consultations_consultation;
DROP TRIGGER IF EXISTS consultations_consultation_no_delete ON consultations_consultation;
DROP TRIGGER IF EXISTS consultations_consultationaddendum_append_only
    ON consultations_consultationaddendum;
DROP TRIGGER IF EXISTS consultations_prescription_only_cancel ON consultations_prescription;
DROP TRIGGER IF EXISTS consultations_prescription_no_delete ON consultations_prescription;
DROP FUNCTION IF EXISTS prescription_only_cancel();
DROP FUNCTION IF EXISTS consultation_refuse_completed_change();
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("consultations", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers, elidable=False)]
