"""pycm-api's "Complete Workflow Example" and "Using cURL" lines, copied verbatim from its
document (shared/seeds/000_74ceedfe3e915843.txt); ``test_the_copies_are_verbatim`` checks them.
"""

WORKFLOW = """\
import requests

BASE_URL = "http://127.0.0.1:8000"

# 1. Sign up a new user
signup_response = requests.post(f"{BASE_URL}/sign_up/", json={
    "email": "ml_engineer@example.com",
    "password": "secure_password"
})
user_data = signup_response.json()
api_key = user_data["api_key"]
print(f"API Key: {api_key}")

# 2. Create a confusion matrix
cm_response = requests.post(f"{BASE_URL}/cm/create", json={
    "api_key": api_key,
    "actual_vector": [0, 1, 0, 1, 1, 0, 1, 0],
    "predicted_vector": [0, 1, 1, 1, 1, 0, 0, 0]
})
cm_data = cm_response.json()
cm_uid = cm_data["uid"]
print(f"Confusion Matrix UID: {cm_uid}")

# 3. Retrieve the confusion matrix
get_cm_response = requests.get(
    f"{BASE_URL}/cm/",
    params={"api_key": api_key, "cm_uid": cm_uid}
)
cm_metrics = get_cm_response.json()
print(f"Accuracy: {cm_metrics['accuracy']}")
print(f"Precision: {cm_metrics['precision']}")
print(f"Recall: {cm_metrics['recall']}")
print(f"F1-Score: {cm_metrics['f1']}")

# 4. Generate HTML report
report_response = requests.get(
    f"{BASE_URL}/cm/report",
    params={"api_key": api_key, "cm_uid": cm_uid}
)
with open("report.html", "w") as f:
    f.write(report_response.text)

# 5. Download plot
plot_response = requests.get(
    f"{BASE_URL}/cm/plot",
    params={"api_key": api_key, "cm_uid": cm_uid}
)
with open("plot.png", "wb") as f:
    f.write(plot_response.content)

# 6. Compare multiple models
compare_response = requests.post(f"{BASE_URL}/compare/", json={
    "api_key": api_key,
    "cm_uids": [cm_uid, "another_cm_uid"]
})
comparison = compare_response.json()
print(f"Best model: {comparison['best_name']}")
"""

CURL = """\
# Sign up
curl -X POST "http://127.0.0.1:8000/sign_up/" \\
  -H "Content-Type: application/json" \\
  -d '{"email": "test@example.com", "password": "test123"}'

# Create confusion matrix (replace YOUR_API_KEY with actual key)
curl -X POST "http://127.0.0.1:8000/cm/create" \\
  -H "Content-Type: application/json" \\
  -d '{
    "api_key": "YOUR_API_KEY",
    "actual_vector": [0, 1, 0, 1],
    "predicted_vector": [0, 1, 1, 1]
  }'

# Get confusion matrix
curl "http://127.0.0.1:8000/cm/?api_key=YOUR_API_KEY&cm_uid=CM_UID"
"""
