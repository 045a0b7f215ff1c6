echo try
exit 1
