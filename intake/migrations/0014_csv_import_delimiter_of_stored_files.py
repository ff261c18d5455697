from django.db import migrations


def _header_delimiter(text):
    # As intake.csv_rows.sniff_delimiter read it at upload (a copy: a migration keeps its own code).
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def delimiter_of_stored_files(apps, schema_editor):
    """Imports that still hold their file (not run yet, or failed) take its delimiter; the others
    were cleared when they ran and keep the comma their rejects download always used."""
    CsvImport = apps.get_model("intake", "CsvImport")
    for item in CsvImport.objects.exclude(content="").only("id", "content").iterator(chunk_size=100):
        delimiter = _header_delimiter(item.content)
        if delimiter != ",":
            CsvImport.objects.filter(pk=item.pk).update(delimiter=delimiter)


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0013_csv_import_delimiter"),
    ]

    operations = [
        migrations.RunPython(delimiter_of_stored_files, migrations.RunPython.noop),
    ]
