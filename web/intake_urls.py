from django.urls import path

from web import intake_views

urlpatterns = [
    path("f/<slug:slug>/", intake_views.capture_form_page, name="capture_form"),
    path("f/<slug:slug>/embed/", intake_views.capture_form_embed, name="capture_form_embed"),
    path("leads/export.csv", intake_views.lead_export_csv, name="lead_export_csv"),
    path("leads/import/", intake_views.import_upload, name="import_upload"),
    path("leads/import/<int:import_id>/", intake_views.import_mapping, name="import_mapping"),
    path("leads/import/<int:import_id>/preview/", intake_views.import_preview, name="import_preview"),
    path("leads/import/<int:import_id>/progress/", intake_views.import_progress, name="import_progress"),
    path("leads/import/<int:import_id>/rejects.csv", intake_views.import_rejects_csv, name="import_rejects_csv"),
    path("leads/<int:lead_id>/data.json", intake_views.lead_data_json, name="lead_data_json"),
    path("leads/<int:lead_id>/erase/", intake_views.lead_erase, name="lead_erase"),
    path("leads/duplicates/", intake_views.duplicate_list, name="lead_duplicates"),
    path("leads/merge/", intake_views.lead_merge, name="lead_merge"),
]
