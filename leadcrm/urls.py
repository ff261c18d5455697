from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "LeadCRM administration"
admin.site.site_title = "LeadCRM admin"
admin.site.index_title = "Scoring, sources, campaigns, forms and people"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("", include("web.intake_urls")),
    path("", include("web.urls")),
]
