from django.urls import path

from accounts import api

urlpatterns = [
    path("auth/register/", api.RegisterApi.as_view(), name="auth-register"),
    path("auth/token/", api.TokenObtainApi.as_view(), name="auth-token"),
    path("auth/token/refresh/", api.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("auth/logout/", api.LogoutApi.as_view(), name="auth-logout"),
    path("me/", api.MeApi.as_view(), name="me"),
    path("users/", api.UserCreateApi.as_view(), name="user-create"),
    path("users/<int:user_id>/", api.UserDetailApi.as_view(), name="user-detail"),
    path("clinicians/", api.ClinicianListApi.as_view(), name="clinician-list"),
    path("hospitals/", api.HospitalListApi.as_view(), name="hospital-list"),
    path("hospitals/<int:hospital_id>/", api.HospitalDetailApi.as_view(), name="hospital-detail"),
]
