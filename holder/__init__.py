"""What citizens and companies control: holder sign-in, presentations (亮证码), their own
licence copies, their view of their data and of who looked at it (architecture §3.6)."""
