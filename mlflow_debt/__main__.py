from mlflow_debt.cli import main

main()
